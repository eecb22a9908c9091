// The prompt worker (main.py's prompt_worker + execution.PromptExecutor): one prompt at a time, the WebSocket
// events in ComfyUI's order, the output cache, cooperative interrupts (checked only when a node starts and in
// the progress hook), previews, injected faults, and the history entry written when a prompt ends.
import type { ExecutionCache } from "./exec-cache.js";
import { executionOrder, formatInputs, gatherInputs } from "./execution-plan.js";
import type { FaultBook } from "./faults.js";
import type { Frame } from "./image.js";
import type { ModelCache } from "./model-cache.js";
import type { Graph, NodeDef, NodeEnv, RunContext } from "./node-types.js";
import { type PreviewMethod, previewJpeg, previewMethodFor, type1Frame, type4Frame } from "./previews.js";
import { ProgressState } from "./progress-state.js";
import type { HistoryEntry, PromptQueue, QueueItem } from "./prompt-queue.js";
import { PyException } from "./python-compat.js";
import type { WsHub } from "./ws-hub.js";

export interface SimStats {
  promptsReceived: number;
  promptsRejected: number;
  promptsExecuted: number;
  promptsInterrupted: number;
  executing: number;
  maxConcurrentExecuting: number;
  interrupts: number;
  uploads: number;
  /** Checkpoint loads (see model-cache.ts). */
  modelLoads: number;
  /** Preview frames sent as type 1 (no metadata) and as type 4 (after feature_flags). */
  previews: number;
  previewsWithMetadata: number;
}

export interface ExecutorDeps {
  queue: PromptQueue;
  cache: ExecutionCache;
  /** --preview-method: what prompts that do not ask in extra_data get ("none" by default, as in ComfyUI). */
  previewMethod: PreviewMethod;
  hub: WsHub;
  registry: Map<string, NodeDef>;
  env: () => NodeEnv;
  faults: FaultBook;
  stats: SimStats;
  stepMs: number;
  nodeMs: number;
  outputSizeBytes: number | undefined;
  /** Checkpoints warm in VRAM; a cold one costs load time in its loader node. */
  models?: ModelCache;
  /** Carries out a crash_mid_prompt fault: crash now, restart after the delay. */
  crash(restartAfterMs: number): void;
  log?: (line: string) => void;
  onPrompt?: (e: PromptRun) => void;
}

/** A prompt starting or stopping on the worker (ended, failed, interrupted, or the host went down). */
export interface PromptRun {
  phase: "start" | "end";
  promptId: string;
  extraData: Record<string, unknown>;
  at: number;
}

/** Thrown through a running prompt when its host is gone: nothing more may be sent or recorded. */
class HostGone extends Error {}
class Interrupted extends Error {}

type Message = [string, Record<string, unknown>];

const OOM_TIPS =
  "This error means you ran out of memory on your GPU.\n\nTIPS: If the workflow worked before you might have accidentally set the batch_size to a large number.";

export class Executor {
  private disposed = false;
  private interruptRequested = false;
  private readonly cancels = new Set<() => void>();
  /** The running prompt's client and last announced node, re-sent to a client that reconnects. */
  current: { promptId: string; clientId: string | null; lastNodeId: string | null } | undefined;

  constructor(private readonly deps: ExecutorDeps) {}

  start(): void {
    void this.loop();
  }

  dispose(): void {
    this.disposed = true;
    for (const cancel of this.cancels) cancel();
    this.cancels.clear();
  }

  /** POST /interrupt: a given prompt id only interrupts if it is the running one. Returns whether it did. */
  interrupt(promptId?: string): boolean {
    if (promptId && !this.deps.queue.isRunning(promptId)) return false;
    // Like nodes.interrupt_processing(): a flag that the next prompt start clears if nothing was running.
    this.interruptRequested = true;
    return this.current !== undefined;
  }

  private async loop(): Promise<void> {
    while (!this.disposed) {
      const next = this.deps.queue.get();
      if (!next) {
        await this.deps.queue.whenNotEmpty();
        continue;
      }
      try {
        await this.execute(next.item, next.taskId);
      } catch (e) {
        if (e instanceof HostGone) return;
        // A simulator bug must not take the test process down; say so and keep serving.
        this.deps.log?.(`executor failure: ${e instanceof Error ? e.stack : String(e)}`);
      }
    }
  }

  private async execute(item: QueueItem, taskId: number): Promise<void> {
    const { hub, queue, stats } = this.deps;
    const [, promptId, prompt, extraData, outputs] = item;
    const clientId = extraData.client_id == null ? null : String(extraData.client_id);
    const started = Date.now();
    this.interruptRequested = false;
    this.current = { promptId, clientId, lastNodeId: null };
    stats.executing++;
    stats.maxConcurrentExecuting = Math.max(stats.maxConcurrentExecuting, stats.executing);
    this.deps.onPrompt?.({ phase: "start", promptId, extraData, at: started });
    const messages: Message[] = [];
    const addMessage = (event: string, data: Record<string, unknown>, broadcast: boolean) => {
      const stamped = { ...data, timestamp: Date.now() };
      messages.push([event, stamped]);
      if (clientId !== null || broadcast) hub.send(event, stamped, clientId);
    };
    try {
      addMessage("execution_start", { prompt_id: promptId }, false);
      const keys = this.deps.cache.prepare(prompt, this.deps.registry, this.deps.env());
      const cached = Object.keys(prompt).filter((id) => this.deps.cache.get(keys.get(id)));
      addMessage("execution_cached", { nodes: cached, prompt_id: promptId }, false);
      const run = await this.runNodes(prompt, promptId, extraData, outputs, clientId, keys);
      if (run.failure) {
        const { nodeId, error, inputs } = run.failure;
        const base = {
          prompt_id: promptId,
          node_id: nodeId,
          node_type: prompt[nodeId]?.class_type,
          executed: run.executed,
        };
        if (error instanceof Interrupted) {
          stats.promptsInterrupted++;
          addMessage("execution_interrupted", base, true);
        } else {
          const py = error instanceof PyException ? error : new PyException("Exception", String(error));
          const tips = py.pyType.endsWith("OutOfMemoryError") ? OOM_TIPS : "";
          addMessage(
            "execution_error",
            {
              ...base,
              exception_message: `${py.message}\n${tips}`,
              exception_type: py.pyType,
              traceback: fakeTraceback(prompt[nodeId]?.class_type ?? ""),
              current_inputs: formatInputs(inputs),
              current_outputs: run.hadOutputs,
            },
            false,
          );
        }
      } else {
        addMessage("execution_success", { prompt_id: promptId }, false);
      }
      this.checkAlive();
      this.current.lastNodeId = null;
      stats.promptsExecuted++;
      const ok = run.failure === undefined;
      queue.taskDone(taskId, {
        outputs: run.ui,
        status: { status_str: ok ? "success" : "error", completed: ok, messages },
        meta: run.meta,
      });
      if (clientId !== null) hub.send("executing", { node: null, prompt_id: promptId }, clientId);
      const outcome = ok ? "success" : run.failure?.error instanceof Interrupted ? "interrupted" : "error";
      this.deps.log?.(
        `prompt ${promptId} ${outcome} client=${clientId ?? "-"} nodes=${run.executed.length} ${Date.now() - started}ms`,
      );
    } finally {
      stats.executing--;
      this.current = undefined;
      this.deps.onPrompt?.({ phase: "end", promptId, extraData, at: Date.now() });
    }
  }

  private async runNodes(
    prompt: Graph,
    promptId: string,
    extraData: Record<string, unknown>,
    outputs: string[],
    clientId: string | null,
    keys: Map<string, string>,
  ) {
    const values = new Map<string, unknown[]>();
    const executed: string[] = [];
    const ui: HistoryEntry["outputs"] = {};
    const meta: HistoryEntry["meta"] = {};
    const env = this.deps.env();
    const { cache, hub } = this.deps;
    // progress_state goes to the prompt's client, or to everyone when it has none.
    const progress = new ProgressState(promptId, (d) => hub.send("progress_state", d, clientId));
    const nodeMeta = (id: string) => ({ node_id: id, display_node: id, parent_node: null, real_node_id: id });
    for (const nodeId of executionOrder(prompt, outputs)) {
      const node = prompt[nodeId]!;
      const def = this.deps.registry.get(node.class_type)!;
      const hit = cache.get(keys.get(nodeId));
      if (hit) {
        // A cached node gets no `executing`; every one replays `executed` (output null when it has no UI).
        values.set(nodeId, hit.outputs);
        if (clientId !== null) {
          hub.send(
            "executed",
            { node: nodeId, display_node: nodeId, output: hit.ui ?? null, prompt_id: promptId },
            clientId,
          );
          // As in execution.py, a cached UI output reaches history only when the prompt has a client.
          if (hit.ui) {
            ui[nodeId] = hit.ui;
            meta[nodeId] = nodeMeta(nodeId);
          }
        }
        progress.finish(nodeId);
        continue;
      }
      const inputs = gatherInputs(nodeId, prompt, def.inputTypes(env), values, extraData);
      try {
        await this.announce(clientId, { node: nodeId, display_node: nodeId, prompt_id: promptId });
        progress.start(nodeId);
        this.checkInterrupt();
        const injected = this.deps.faults.takeForNode(nodeId, node.class_type);
        if (injected) throw new PyException(injected.type, injected.message);
        await this.deps.models?.beforeNode(node.inputs, (ms) => this.sleep(ms));
        // A slow node reports no progress, so an interrupt cannot stop it: it runs to its end.
        const slow = this.deps.faults.take("slow_node", (f) => matchesNode(f, nodeId, node.class_type));
        await this.sleep(this.deps.nodeMs + (slow?.delay_ms ?? 0));
        const result = await def.run(
          inputs,
          this.context(env, nodeId, promptId, prompt, extraData, clientId, progress),
        );
        this.checkAlive();
        values.set(nodeId, result.outputs);
        const hasUi = result.ui && Object.keys(result.ui).length > 0;
        cache.set(keys.get(nodeId), { outputs: result.outputs, ui: hasUi ? result.ui : undefined });
        if (hasUi && result.ui) {
          ui[nodeId] = result.ui;
          meta[nodeId] = nodeMeta(nodeId);
          if (clientId !== null) {
            hub.send(
              "executed",
              { node: nodeId, display_node: nodeId, output: result.ui, prompt_id: promptId },
              clientId,
            );
          }
        }
        progress.finish(nodeId);
      } catch (error) {
        if (error instanceof HostGone) throw error;
        return { executed, ui, meta, hadOutputs: [...values.keys()], failure: { nodeId, error, inputs } };
      }
      executed.push(nodeId);
    }
    return { executed, ui, meta, hadOutputs: [...values.keys()], failure: undefined };
  }

  private context(
    env: NodeEnv,
    nodeId: string,
    promptId: string,
    prompt: Graph,
    extraData: Record<string, unknown>,
    clientId: string | null,
    progress: ProgressState,
  ): RunContext {
    const method = previewMethodFor(extraData, this.deps.previewMethod);
    const { hub } = this.deps;
    return {
      env,
      nodeId,
      promptId,
      prompt,
      extraData,
      stepMs: this.deps.stepMs,
      outputSizeBytes: this.deps.outputSizeBytes,
      sleep: (ms) => this.sleep(ms),
      progress: async (value, max, preview?: Frame) => {
        const jpeg = preview && method !== "none" ? await previewJpeg(preview) : undefined;
        this.applyMidPromptFaults();
        // main.py's hook: the interrupt check comes first, so an interrupted step is never reported.
        this.checkInterrupt();
        progress.update(nodeId, value, max);
        const withMeta = hub.supports(clientId, "supports_preview_metadata");
        if (jpeg && withMeta) {
          this.deps.stats.previewsWithMetadata++;
          hub.sendBinary(type4Frame(jpeg, { node_id: nodeId, prompt_id: promptId }), clientId);
        }
        // The progress hook sends to the prompt's client, or to everyone when it has none.
        hub.send("progress", { value, max, prompt_id: promptId, node: nodeId }, clientId);
        if (jpeg && !withMeta) {
          this.deps.stats.previews++;
          hub.sendBinary(type1Frame(jpeg), clientId);
        }
      },
    };
  }

  private async announce(
    clientId: string | null,
    data: { node: string; display_node: string; prompt_id: string },
  ) {
    this.applyMidPromptFaults("executing");
    this.checkAlive();
    if (clientId === null) return;
    this.current!.lastNodeId = data.display_node;
    this.deps.hub.send("executing", data, clientId);
  }

  private applyMidPromptFaults(event: "progress" | "executing" = "progress"): void {
    const crash = this.deps.faults.take("crash_mid_prompt");
    if (crash) {
      this.deps.crash(crash.restart_after_ms ?? 50);
      throw new HostGone();
    }
    if (event === "progress" && this.deps.faults.take("drop_ws_mid_prompt")) this.deps.hub.terminateAll();
  }

  private checkAlive(): void {
    if (this.disposed) throw new HostGone();
  }

  private checkInterrupt(): void {
    this.checkAlive();
    if (this.interruptRequested) {
      this.interruptRequested = false;
      throw new Interrupted();
    }
  }

  /** Time spent inside a node: only the host going away cuts it short, never an interrupt. */
  private sleep(ms: number): Promise<void> {
    this.checkAlive();
    return new Promise<void>((resolve, reject) => {
      const cancel = () => {
        clearTimeout(timer);
        reject(new HostGone());
      };
      const timer = setTimeout(() => {
        this.cancels.delete(cancel);
        resolve();
      }, ms);
      this.cancels.add(cancel);
    });
  }
}

function matchesNode(
  f: { node_id?: string; class_type?: string },
  nodeId: string,
  classType: string,
): boolean {
  return (
    (f.node_id === undefined || f.node_id === nodeId) &&
    (f.class_type === undefined || f.class_type === classType)
  );
}

/** A plausible traceback.format_tb() list; clients show it but must not parse it. */
function fakeTraceback(classType: string): string[] {
  return [
    '  File "/ComfyUI/execution.py", line 496, in execute\n    output_data, output_ui, has_subgraph, has_pending_tasks = await get_output_data(prompt_id, unique_id, obj, input_data_all)\n',
    '  File "/ComfyUI/execution.py", line 315, in get_output_data\n    return_values = await _async_map_node_over_list(prompt_id, unique_id, obj, input_data_all, obj.FUNCTION, allow_interrupt=True)\n',
    `  File "/ComfyUI/nodes.py", line 1525, in ${classType}\n    raise RuntimeError(message)\n`,
  ];
}
