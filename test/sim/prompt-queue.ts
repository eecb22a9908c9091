// execution.PromptQueue: pending prompts ordered by number (front = negative numbers), the running one, and
// the in-memory history a restart forgets (capped at 10,000 entries like ComfyUI's).
import type { Graph } from "./node-types.js";

/** [number, prompt_id, prompt, extra_data, outputs_to_execute], exactly as /queue and /history show it. */
export type QueueItem = [number, string, Graph, Record<string, unknown>, string[]];

export interface HistoryStatus {
  status_str: "success" | "error";
  completed: boolean;
  messages: Array<[string, Record<string, unknown>]>;
}

export interface HistoryEntry {
  prompt: QueueItem;
  outputs: Record<string, Record<string, unknown[]>>;
  status: HistoryStatus;
  meta: Record<
    string,
    { node_id: string; display_node: string; parent_node: string | null; real_node_id: string }
  >;
}

const MAXIMUM_HISTORY_SIZE = 10_000;

/** Python compares queue tuples: number first, then prompt_id. */
function compareItems(a: QueueItem, b: QueueItem): number {
  return a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);
}

export class PromptQueue {
  private pending: QueueItem[] = [];
  private readonly running = new Map<number, QueueItem>();
  private readonly history = new Map<string, HistoryEntry>();
  private taskCounter = 0;
  private wakeUp: (() => void) | undefined;

  /** `changed` is server.queue_updated(): the status broadcast. */
  constructor(private readonly changed: () => void) {}

  put(item: QueueItem): void {
    this.pending.push(item);
    this.pending.sort(compareItems);
    this.changed();
    this.wakeUp?.();
  }

  /** Resolves when a prompt may be waiting; the caller re-checks with get(). */
  whenNotEmpty(): Promise<void> {
    if (this.pending.length > 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.wakeUp = () => {
        this.wakeUp = undefined;
        resolve();
      };
    });
  }

  get(): { item: QueueItem; taskId: number } | undefined {
    const item = this.pending.shift();
    if (!item) return undefined;
    const taskId = this.taskCounter++;
    this.running.set(taskId, structuredClone(item));
    this.changed();
    return { item, taskId };
  }

  taskDone(taskId: number, result: Omit<HistoryEntry, "prompt">): void {
    const prompt = this.running.get(taskId);
    if (!prompt) return;
    this.running.delete(taskId);
    if (this.history.size > MAXIMUM_HISTORY_SIZE) {
      const oldest = this.history.keys().next();
      if (!oldest.done) this.history.delete(oldest.value);
    }
    this.history.set(prompt[1], { prompt, ...result });
    this.changed();
  }

  remaining(): number {
    return this.pending.length + this.running.size;
  }

  current(): { running: QueueItem[]; pending: QueueItem[] } {
    return { running: [...this.running.values()], pending: structuredClone(this.pending) };
  }

  wipe(): void {
    this.pending = [];
    this.changed();
  }

  /** Removes the first pending item with this prompt id; running prompts are untouched. */
  delete(promptId: string): boolean {
    const at = this.pending.findIndex((i) => i[1] === promptId);
    if (at < 0) return false;
    this.pending.splice(at, 1);
    this.changed();
    return true;
  }

  isRunning(promptId: string): boolean {
    return [...this.running.values()].some((i) => i[1] === promptId);
  }

  /** PromptQueue.get_history: one id, or the last `maxItems` (from `offset` when given). */
  getHistory(promptId?: string, maxItems?: number, offset = -1): Record<string, HistoryEntry> {
    if (promptId !== undefined) {
      const entry = this.history.get(promptId);
      return entry ? { [promptId]: structuredClone(entry) } : {};
    }
    let start = offset;
    if (start < 0 && maxItems !== undefined) start = this.history.size - maxItems;
    const out: Record<string, HistoryEntry> = {};
    let i = 0;
    for (const [k, v] of this.history) {
      if (i >= start) {
        out[k] = v;
        if (maxItems !== undefined && Object.keys(out).length >= maxItems) break;
      }
      i++;
    }
    return structuredClone(out);
  }

  wipeHistory(): void {
    this.history.clear();
  }

  deleteHistory(promptId: string): void {
    this.history.delete(promptId);
  }
}
