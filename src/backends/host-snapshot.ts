// What the monitor knows of one host (its snapshot), and how each poll's answers fill it in: /system_stats
// for the device, /queue for what is queued and whose, /object_info for node classes and model choices.
import type { BackendState } from "./monitor.js";
import { modelChoices, type QueueItem, type SystemStats } from "./protocol.js";

export interface BackendSnapshot {
  state: BackendState;
  reason: string | null;
  queue_running: number;
  queue_pending: number;
  /** Prompts on the host that are not ours: what our next prompt would wait behind. */
  foreign_queued: number;
  prompt_ids: Set<string>;
  /** Our prompts the host holds, as of the last poll (to find orphans of earlier attempts). */
  ours: QueueItem[];
  running_prompt_id: string | null;
  /** devices[0].type: "cuda", "mps", ... or "cpu" for a host without a GPU. */
  device_type: string | null;
  device_name: string | null;
  /** Everything on the host, running first then pending in order, ours and others' (with their graphs). */
  items: QueueItem[];
  /** GPU memory; null on a CPU host, whose /system_stats reports system RAM in these fields. */
  vram_total: number | null;
  vram_free: number | null;
  /** System RAM, from the same report. */
  ram_total: number | null;
  comfyui_version: string | null;
  last_seen: string | null;
  last_error: string | null;
  node_classes: Set<string> | null;
  models: Map<string, Set<string>>;
  ws_connected: boolean;
  /** Prompts of ours that were interrupted (cancel, timeout) and have not ended yet: they hold the host. */
  interrupting: Map<string, { since: number; stuck: boolean }>;
}

export function emptySnapshot(): BackendSnapshot {
  return {
    state: "offline",
    reason: "not contacted yet",
    queue_running: 0,
    queue_pending: 0,
    foreign_queued: 0,
    prompt_ids: new Set(),
    ours: [],
    running_prompt_id: null,
    device_type: null,
    device_name: null,
    items: [],
    vram_total: null,
    vram_free: null,
    ram_total: null,
    comfyui_version: null,
    last_seen: null,
    last_error: null,
    node_classes: null,
    models: new Map(),
    ws_connected: false,
    interrupting: new Map(),
  };
}

export function applyObjectInfo(s: BackendSnapshot, info: Record<string, unknown>): void {
  s.node_classes = new Set(Object.keys(info));
  const models = new Map<string, Set<string>>();
  for (const cls of Object.values(info)) {
    for (const [input, choices] of modelChoices(cls)) {
      const set = models.get(input) ?? new Set<string>();
      for (const c of choices) set.add(c);
      models.set(input, set);
    }
  }
  s.models = models;
}

export function applyStats(s: BackendSnapshot, stats: SystemStats): void {
  const device = stats.devices[0];
  const cpu = device?.type === "cpu";
  s.device_type = device?.type ?? null;
  s.device_name = device?.name ?? null;
  // A CPU host reports system RAM as "VRAM": it has none, and no VRAM rule may count it.
  s.vram_total = device && !cpu ? device.vram_total : null;
  s.vram_free = device && !cpu ? device.vram_free : null;
  const system = stats.system as { ram_total?: unknown } | undefined;
  s.ram_total = typeof system?.ram_total === "number" ? system.ram_total : null;
  s.comfyui_version = stats.system?.comfyui_version ?? null;
}

/** `counts`: whether the queue's lengths may replace the running/pending counts. */
export function applyQueue(
  s: BackendSnapshot,
  queue: { running: QueueItem[]; pending: QueueItem[] },
  isOurs: (item: QueueItem) => boolean,
  counts: boolean,
): void {
  if (counts) {
    s.queue_running = queue.running.length;
    s.queue_pending = queue.pending.length;
  }
  const items = [...queue.running, ...queue.pending];
  s.items = items;
  s.ours = items.filter((i) => isOurs(i));
  s.foreign_queued = items.length - s.ours.length;
  s.prompt_ids = new Set([...queue.running, ...queue.pending].map((i) => i.prompt_id));
  s.running_prompt_id = queue.running[0]?.prompt_id ?? null;
}
