// What a host has warm: the models of the prompts that last ran there, ours and other clients' (their graphs
// are in /queue and /history). ComfyUI keeps the last prompt's models loaded; `model_slots` says how many
// checkpoints a host keeps. A belief, never a listing: a host that goes offline is assumed to have lost them.
import type { Logger } from "pino";
import { requirementsOf } from "../core/engine/requirements.js";
import type { ApiGraph } from "../core/models.js";
import type { BackendMonitor } from "./monitor.js";
import type { QueueItem } from "./protocol.js";

/** The models one prompt loads; `key` names the checkpoint(s), what takes a slot. */
export interface ModelSet {
  key: string;
  files: string[];
}

const CHECKPOINT_INPUTS = new Set(["ckpt_name", "unet_name"]);
/** Prompt ids remembered as already applied (bounded; a repeat only moves a set to most recent). */
const SEEN_MAX = 2048;
const HISTORY_ITEMS = 4;
const HISTORY_TIMEOUT_MS = 5000;

export function modelSetOf(graph: ApiGraph | Record<string, unknown> | null): ModelSet | null {
  if (!graph) return null;
  try {
    return modelSetFrom(requirementsOf({ graph: graph as ApiGraph, requires: [], min_vram_gb: null }).models);
  } catch {
    return null; // another client's graph in a shape we do not read
  }
}

/** The set from a job's model inputs (Requirements.models). */
export function modelSetFrom(models: readonly { input: string; value: string }[]): ModelSet | null {
  if (!models.length) return null;
  const files = [...new Set(models.map((m) => m.value))].sort();
  const ckpts = [...new Set(models.filter((m) => CHECKPOINT_INPUTS.has(m.input)).map((m) => m.value))].sort();
  return { key: (ckpts.length ? ckpts : files).join("|"), files };
}

/** The warm sets (oldest first) after a prompt with `set` ran, keeping at most `slots` checkpoints. */
export function afterRun(warm: readonly ModelSet[], set: ModelSet | null, slots: number): ModelSet[] {
  if (!set) return [...warm];
  const next = warm.filter((w) => w.key !== set.key);
  next.push(set);
  return next.slice(Math.max(0, next.length - slots));
}

/** Whether every model the job loads is among the warm ones (a job without models is always warm). */
export function isWarm(warm: readonly ModelSet[], set: ModelSet | null): boolean {
  if (!set) return true;
  return set.files.every((f) => warm.some((w) => w.files.includes(f)));
}

export class WarmModels {
  private warm: ModelSet[] = [];
  private readonly seen = new Set<string>();
  /** Our prompts sent to the host, applied when the host starts them. */
  private readonly expected = new Map<string, ModelSet | null>();
  private lastIds: string | null = null;
  private reading = false;

  constructor(
    private readonly monitor: BackendMonitor,
    readonly slots: number,
    private readonly log: Logger,
  ) {
    monitor.on("message", (msg) => {
      if (msg.type !== "execution_start") return;
      const id = (msg.data as { prompt_id?: unknown }).prompt_id;
      if (typeof id === "string" && this.expected.has(id)) {
        this.ran(id, this.expected.get(id)!);
        this.expected.delete(id);
      }
    });
    monitor.on("polled", () => this.onPolled());
    monitor.on("state", (state) => {
      if (state === "offline") this.warm = [];
    });
  }

  /** Oldest first. */
  get sets(): readonly ModelSet[] {
    return this.warm;
  }

  /** File names, most recent first, for /api/backends. */
  list(): string[] {
    return [...new Set([...this.warm].reverse().flatMap((w) => w.files))];
  }

  /** Our prompt is on its way to this host. */
  expect(promptId: string, set: ModelSet | null): void {
    if (this.expected.size > SEEN_MAX) this.expected.clear();
    this.expected.set(promptId, set);
  }

  private ran(promptId: string, set: ModelSet | null): void {
    if (this.seen.size >= SEEN_MAX) this.seen.delete(this.seen.values().next().value!);
    this.seen.add(promptId);
    this.warm = afterRun(this.warm, set, this.slots);
  }

  private onPolled(): void {
    const s = this.monitor.snapshot;
    if (s.state === "offline") return;
    const running = s.queue_running > 0 ? s.items[0] : undefined;
    const ids = s.items.map((i) => i.prompt_id).join(",");
    // Something started or ended since the last poll: a prompt may have run entirely in between.
    if (ids !== this.lastIds && !this.reading) {
      this.lastIds = ids;
      this.reading = true;
      this.monitor.client
        .recentHistory(HISTORY_ITEMS, AbortSignal.timeout(HISTORY_TIMEOUT_MS))
        .then(
          (items) => {
            for (const item of items) this.apply(item, false);
          },
          (err: Error) =>
            this.log.debug({ backend_id: this.monitor.id, err: err.message }, "history read failed"),
        )
        .finally(() => {
          this.reading = false;
          // The running prompt started after everything in history ended: it is the most recent.
          const now = this.monitor.snapshot.queue_running > 0 ? this.monitor.snapshot.items[0] : undefined;
          if (now) this.apply(now, true);
        });
    } else if (running) this.apply(running, true);
  }

  private apply(item: QueueItem, again: boolean): void {
    if (this.seen.has(item.prompt_id) && !again) return;
    this.expected.delete(item.prompt_id);
    this.ran(item.prompt_id, modelSetOf(item.prompt));
  }
}
