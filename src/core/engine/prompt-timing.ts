// Times our prompts on their host from the host's own events: from execution_start to execution_success,
// and apart from it the time spent in loader nodes, where ComfyUI loads models (a warm loader is cached
// and takes no time). What a model switch cost is the loader part of a job whose model was cold.
import type { BackendMonitor } from "../../backends/monitor.js";
import type { WsMessage } from "../../backends/protocol.js";

export interface PromptTimes {
  runMs: number;
  loadMs: number;
  /** Whether a loader node executed at all: a cached one (its model warm) sends no event. */
  loaderRan: boolean;
}

interface Live {
  loaders: ReadonlySet<string>;
  startedAt: number | null;
  node: string | null;
  nodeStart: number;
  loadMs: number;
  loaderRan: boolean;
  done: (t: PromptTimes) => void;
}

/** Bound on prompts timed at once (a prompt whose end we never hear about must not pile up). */
const MAX_LIVE = 4096;

export class PromptTiming {
  private readonly live = new Map<string, Live>();

  watch(monitor: BackendMonitor): void {
    monitor.on("message", (msg) => this.onMessage(msg));
  }

  /** Times this prompt; `done` is called only if it succeeds. `loaders`: node ids that load models. */
  track(promptId: string, loaders: ReadonlySet<string>, done: (t: PromptTimes) => void): void {
    if (this.live.size >= MAX_LIVE) this.live.delete(this.live.keys().next().value!);
    this.live.set(promptId, {
      loaders,
      startedAt: null,
      node: null,
      nodeStart: 0,
      loadMs: 0,
      loaderRan: false,
      done,
    });
  }

  /** When the host started the prompt (Date.now() clock), or null before it has. */
  startedAt(promptId: string): number | null {
    return this.live.get(promptId)?.startedAt ?? null;
  }

  forget(promptId: string): void {
    this.live.delete(promptId);
  }

  private onMessage(msg: WsMessage): void {
    const data = msg.data as { prompt_id?: unknown; node?: unknown };
    if (typeof data.prompt_id !== "string") return;
    const p = this.live.get(data.prompt_id);
    if (!p) return;
    const now = Date.now();
    switch (msg.type) {
      case "execution_start":
        p.startedAt = now;
        p.nodeStart = now;
        break;
      case "executing":
        this.closeNode(p, now);
        p.node = typeof data.node === "string" ? data.node : null;
        if (p.node !== null && p.loaders.has(p.node)) p.loaderRan = true;
        break;
      case "execution_success":
        this.closeNode(p, now);
        this.live.delete(data.prompt_id);
        if (p.startedAt !== null) {
          const total = now - p.startedAt;
          p.done({ runMs: Math.max(0, total - p.loadMs), loadMs: p.loadMs, loaderRan: p.loaderRan });
        }
        break;
      case "execution_error":
      case "execution_interrupted":
        this.live.delete(data.prompt_id);
        break;
    }
  }

  private closeNode(p: Live, now: number): void {
    if (p.node !== null && p.loaders.has(p.node)) p.loadMs += now - p.nodeStart;
    p.node = null;
    p.nodeStart = now;
  }
}
