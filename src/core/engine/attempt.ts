// One attempt of one job on one host: upload inputs, queue the prompt, follow its events, collect its
// outputs, and decide how it ended. The WebSocket is for speed; /history is the truth (it is read on every
// end signal, on a reconnect and after a silence), and a prompt in neither /queue nor /history is lost.
import type { Logger } from "pino";
import type { BackendMonitor, BackendState } from "../../backends/monitor.js";
import type { HistoryEntry, WsMessage } from "../../backends/protocol.js";
import type { Job, JobError, JobOutput, JobProgress } from "../models.js";
import type { FileStore } from "../storage/file-store.js";
import { type AttemptOutcome, failedOutcome, timeoutError } from "./attempt-outcome.js";
import { executionFailure } from "./failure.js";
import { isFinished, verdictOf } from "./history-outcome.js";
import { OutputCollector } from "./output-collector.js";
import { PromptProgress } from "./prompt-progress.js";
import { isOurJob, submissionFailure, submitPrompt } from "./prompt-submission.js";
import { StepRate } from "./step-rate.js";

export type { AttemptOutcome } from "./attempt-outcome.js";

/** How long after an end event to read /history if `executing` with node null never comes. */
const END_FALLBACK_MS = 250;

export type StopReason = "cancel" | "timeout" | "shutdown";

export interface AttemptHooks {
  instanceId: string;
  files: FileStore;
  log: Logger;
  silenceCheckMs: number;
  graceMs: number;
  /** dispatching → running, once. */
  onRunning(): void;
  onProgress(p: JobProgress): void;
  onOutput(o: JobOutput): void;
  onPromptId(promptId: string): void;
  /** The preview method to ask the host for (extra_data.preview_method), or null for none. */
  previewMethod?(): string | null;
  /** The host accepted the prompt (not called when re-attaching after a restart). */
  onPromptSent?(): void;
}

export class Attempt {
  private readonly abort = new AbortController();
  private stopReason: StopReason | null = null;
  private settle!: (o: AttemptOutcome) => void;
  private readonly done = new Promise<AttemptOutcome>((r) => {
    this.settle = r;
  });
  private finished = false;
  private running = false;
  private checking = false;
  /** The host answered one of our checks: its monitor's first poll may still be pending, it is not gone. */
  private reached = false;
  private recheck = false;
  private terminalHint = false;
  private promptId: string;
  private readonly cleanups: (() => void)[] = [];
  private readonly collector: OutputCollector;
  private readonly progressOf: PromptProgress;
  private runningSince = 0;
  private readonly rate = new StepRate();
  private lastError: JobError | null = null;
  private readonly log: Logger;

  constructor(
    private readonly job: Job,
    readonly monitor: BackendMonitor,
    private readonly deadline: number,
    private readonly hooks: AttemptHooks,
  ) {
    this.promptId = job.prompt_id!;
    this.progressOf = new PromptProgress(job.graph);
    this.log = hooks.log.child({ job_id: job.id, backend_id: monitor.id, attempt: job.attempt });
    this.collector = new OutputCollector(
      job.id,
      monitor.client,
      hooks.files,
      this.abort.signal,
      (o) => hooks.onOutput(o),
      this.log,
      job.outputs,
    );
  }

  get prompt(): string {
    return this.promptId;
  }

  /** Runs a new attempt (`resume` false) or re-attaches to a prompt a previous process queued. */
  run(resume: boolean): Promise<AttemptOutcome> {
    this.follow();
    if (resume) {
      this.log.info({ prompt_id: this.promptId }, "re-attaching to prompt after restart");
      if (this.monitor.snapshot.state === "offline") this.startGrace();
      void this.check();
    } else {
      void this.submit();
    }
    return this.done;
  }

  /** Stops the attempt; for cancel and timeout the prompt is also removed from or interrupted on its host. */
  stop(reason: StopReason): void {
    if (this.finished || this.stopReason) return;
    this.stopReason = reason;
    if (reason === "shutdown") {
      this.finish({ kind: "detached" });
      return;
    }
    void this.removeFromHost().finally(() =>
      this.finish(
        reason === "cancel" ? { kind: "cancelled" } : { kind: "failed", error: timeoutError(this.job) },
      ),
    );
  }

  private async submit(): Promise<void> {
    try {
      const promptId = await submitPrompt(this.job, this.monitor, {
        instanceId: this.hooks.instanceId,
        promptId: this.promptId,
        previewMethod: () => this.hooks.previewMethod?.() ?? null,
        signal: this.abort.signal,
      });
      if (promptId !== this.promptId) {
        // An older host ignores our prompt_id and makes its own: follow that one.
        this.promptId = promptId;
        this.hooks.onPromptId(promptId);
      }
      this.log.info({ prompt_id: this.promptId }, "prompt queued on backend");
      this.hooks.onPromptSent?.();
    } catch (err) {
      if (this.finished) return;
      this.finish(submissionFailure(err));
    }
  }

  private follow(): void {
    const onMessage = (msg: WsMessage) => this.onMessage(msg);
    const onState = (state: BackendState) => {
      if (state === "offline") this.lost("backend went offline");
    };
    const onOpen = () => void this.check();
    this.monitor.on("message", onMessage);
    this.monitor.on("state", onState);
    this.monitor.on("socket-open", onOpen);
    const silence = setInterval(() => void this.check(), this.hooks.silenceCheckMs);
    const timeout = setTimeout(() => this.stop("timeout"), Math.max(0, this.deadline - Date.now()));
    this.cleanups.push(() => {
      this.monitor.off("message", onMessage);
      this.monitor.off("state", onState);
      this.monitor.off("socket-open", onOpen);
      clearInterval(silence);
      clearTimeout(timeout);
    });
  }

  private startGrace(): void {
    const grace = setTimeout(() => void this.graceExpired(), this.hooks.graceMs);
    this.cleanups.push(() => clearTimeout(grace));
  }

  /**
   * Requeueing a prompt the host still holds would run it twice, so "unreachable" needs proof: a host that
   * answered one of our checks, or answers now, is only slow (its monitor's first poll may still be due).
   */
  private async graceExpired(): Promise<void> {
    if (this.finished || this.reached || this.monitor.snapshot.state !== "offline") return;
    try {
      await this.monitor.client.queue(this.abort.signal);
      this.reached = true;
      void this.check();
    } catch {
      this.lost("backend unreachable after restart");
    }
  }

  private onMessage(msg: WsMessage): void {
    const d = msg.data as Record<string, unknown>;
    if (d.prompt_id !== this.promptId || this.finished) return;
    switch (msg.type) {
      case "execution_start":
        this.markRunning();
        break;
      case "execution_cached":
        if (Array.isArray(d.nodes)) this.progressOf.cachedNodes(d.nodes);
        break;
      case "executing":
        if (d.node == null) {
          this.terminalHint = true;
          void this.check();
        } else {
          this.markRunning();
          this.report(this.progressOf.executing(String(d.node)));
        }
        break;
      case "progress_state":
        if (d.nodes && typeof d.nodes === "object") {
          this.markRunning();
          this.report(this.progressOf.state(d.nodes as Record<string, unknown>));
        }
        break;
      case "progress": {
        this.markRunning();
        const node = String(d.node ?? "");
        const value = Number(d.value) || 0;
        const max = Number(d.max) || 1;
        this.rate.step(node, value, max, Date.now());
        this.report(this.progressOf.step(node, value, max));
        break;
      }
      case "executed":
        if (d.output && typeof d.output === "object")
          this.collector.add(String(d.node), d.output as Record<string, unknown>);
        break;
      case "execution_error":
        this.lastError = executionFailure(d).error;
        this.expectEnd();
        break;
      case "execution_success":
      case "execution_interrupted":
        this.expectEnd();
        break;
    }
  }

  /**
   * ComfyUI sends execution_success/error/interrupted before it writes /history, and `executing` with node
   * null after: that is when we read history. Asking at once would only find the prompt still running and
   * delay the real check, so this only arms a fallback for a host that never sends the null.
   */
  private expectEnd(): void {
    if (this.terminalHint) return;
    this.terminalHint = true;
    const fallback = setTimeout(() => void this.check(), END_FALLBACK_MS);
    this.cleanups.push(() => clearTimeout(fallback));
  }

  private markRunning(): void {
    if (this.running) return;
    this.running = true;
    this.runningSince = Date.now();
    this.hooks.onRunning();
  }

  get isRunning(): boolean {
    return this.running && !this.finished;
  }

  get runningForMs(): number {
    return this.running ? Date.now() - this.runningSince : 0;
  }

  /** Time left in the node reporting progress (see StepRate): errs early, never late. */
  remainingMs(): number | null {
    return this.rate.remainingMs();
  }

  private report(p: JobProgress | null): void {
    if (p) this.hooks.onProgress(p);
  }

  /** Asks the host about our prompt; concurrent calls collapse into one and one follow-up. */
  private async check(): Promise<void> {
    if (this.finished || this.stopReason) return;
    if (this.checking) {
      this.recheck = true;
      return;
    }
    this.checking = true;
    try {
      const { client } = this.monitor;
      let entry = await client.history(this.promptId, this.abort.signal);
      if (entry && isFinished(entry)) return await this.finishFromHistory(entry);
      const q = await client.queue(this.abort.signal);
      this.reached = true;
      const all = [...q.running, ...q.pending];
      if (all.some((i) => i.prompt_id === this.promptId)) {
        if (q.running.some((i) => i.prompt_id === this.promptId)) this.markRunning();
        if (this.terminalHint) setTimeout(() => void this.check(), 100).unref();
        return;
      }
      const tagged = all.find((i) => isOurJob(i.extra_data, this.job));
      if (tagged) {
        this.promptId = tagged.prompt_id;
        this.hooks.onPromptId(tagged.prompt_id);
        return;
      }
      // It may have finished between the two calls: history once more before calling it lost.
      entry = await client.history(this.promptId, this.abort.signal);
      if (entry && isFinished(entry)) return await this.finishFromHistory(entry);
      this.lost("prompt is in neither the host's queue nor its history (host restarted?)");
    } catch (err) {
      // Unreachable hosts are the monitor's call (it goes offline and we fail over); keep waiting.
      this.log.debug({ err: (err as Error).message }, "could not check prompt on backend");
    } finally {
      this.checking = false;
      if (this.recheck && !this.finished) {
        this.recheck = false;
        void this.check();
      }
    }
  }

  private async finishFromHistory(entry: HistoryEntry): Promise<void> {
    for (const [nodeId, output] of Object.entries(entry.outputs)) this.collector.add(nodeId, output);
    const v = verdictOf(entry);
    if (v.kind === "success") {
      try {
        await this.collector.settle();
      } catch (err) {
        const error = { code: "OUTPUT_DOWNLOAD_FAILED", message: (err as Error).message };
        return this.finish({ kind: "retry", error });
      }
      return this.finish({ kind: "completed" });
    }
    this.finish(failedOutcome(v, this.monitor.snapshot.vram_free, this.lastError));
  }

  private lost(why: string): void {
    if (this.finished || this.stopReason) return;
    this.log.warn({ prompt_id: this.promptId, reason: why }, "prompt lost on backend");
    this.finish({ kind: "retry", error: { code: "BACKEND_LOST", message: why } });
  }

  /**
   * Deletes the prompt if it is still pending, interrupts it if it is running; never touches others'. An
   * interrupted prompt runs on to its next node start or progress step: the monitor holds the host's slot
   * until the host reports it ended.
   */
  private async removeFromHost(): Promise<void> {
    try {
      const done = await this.monitor.client.removePrompt(this.promptId, AbortSignal.timeout(5000));
      if (done === "interrupted") this.monitor.awaitEnd(this.promptId);
    } catch (err) {
      this.log.warn(
        { prompt_id: this.promptId, err: (err as Error).message },
        "could not remove prompt from backend",
      );
    }
  }

  private finish(outcome: AttemptOutcome): void {
    if (this.finished) return;
    this.finished = true;
    for (const c of this.cleanups) c();
    this.abort.abort();
    this.settle(outcome);
  }
}
