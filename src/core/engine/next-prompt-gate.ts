// When a host may get its next prompt while it is still running one of ours. Sent at once, a prompt can sit
// on a slow host while a faster one frees up (the tail of a batch); sent too late, the GPU idles. So the next
// prompt goes out when the running one is about `leadMs` from its end, judged by its sampler's step rate, or
// by how long prompts have been taking on that host when it reports no progress.
import type { Attempt } from "./attempt.js";

/** Weight of the newest execution time in a host's running average. */
const EWMA_ALPHA = 0.2;

export class NextPromptGate {
  private readonly running = new Map<string, Attempt>();
  private readonly avgExecMs = new Map<string, number>();
  private readonly opened = new WeakSet<Attempt>();

  constructor(
    private readonly leadMs: number,
    /** Called once per running prompt when its host's next slot opens, so dispatch can use it. */
    private readonly onOpen: () => void,
  ) {}

  isOpen(backendId: string): boolean {
    if (this.leadMs <= 0) return true;
    const a = this.running.get(backendId);
    if (!a?.isRunning) return true;
    const remaining = a.remainingMs();
    if (remaining !== null) return remaining <= this.leadMs;
    const avg = this.avgExecMs.get(backendId);
    return avg === undefined || a.runningForMs >= avg - this.leadMs;
  }

  started(a: Attempt): void {
    this.running.set(a.monitor.id, a);
    const avg = this.avgExecMs.get(a.monitor.id);
    if (avg !== undefined && this.leadMs > 0)
      setTimeout(() => this.check(a), Math.max(0, avg - this.leadMs)).unref();
    this.check(a);
  }

  progressed(a: Attempt): void {
    this.check(a);
  }

  /** `executedMs`: how long the prompt ran on the host, when it completed normally. */
  ended(a: Attempt, executedMs: number | null): void {
    const id = a.monitor.id;
    if (this.running.get(id) === a) this.running.delete(id);
    if (executedMs === null || executedMs <= 0) return;
    const avg = this.avgExecMs.get(id);
    this.avgExecMs.set(id, avg === undefined ? executedMs : avg + EWMA_ALPHA * (executedMs - avg));
  }

  private check(a: Attempt): void {
    const id = a.monitor.id;
    if (this.opened.has(a) || this.running.get(id) !== a || !this.isOpen(id)) return;
    this.opened.add(a);
    this.onOpen();
  }
}
