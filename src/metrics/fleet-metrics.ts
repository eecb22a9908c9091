// Per-host gauges, read from the scheduler's view of the fleet at scrape time, so hosts added or removed
// while running appear and disappear without any bookkeeping here.
import type { Scheduler } from "../core/engine/scheduler.js";
import type { Metrics } from "./metrics.js";

export const HOST_STATES = ["online", "degraded", "offline", "disabled", "draining", "drained", "removing"];

export class FleetMetrics {
  /** Poll errors already counted, per host: the monitor keeps a running total, the counter gets deltas. */
  private readonly pollErrorsSeen = new Map<string, number>();

  constructor(
    private readonly scheduler: Scheduler,
    private readonly m: Metrics,
    /** Overrides the scheduler's state (e.g. "removing" for a host being deleted). */
    private readonly stateOf: (id: string, state: string) => string = (_id, s) => s,
  ) {
    m.onScrape(() => this.refresh());
  }

  private refresh(): void {
    const { m } = this;
    for (const g of [m.hostState, m.hostInflight, m.hostForeignQueue, m.hostVramTotal, m.hostVramFree])
      g.reset();
    const present = new Set<string>();
    for (const mon of this.scheduler.all()) {
      const backend = mon.id;
      present.add(backend);
      const view = this.scheduler.describe(mon);
      const state = this.stateOf(backend, String(view.state));
      for (const s of HOST_STATES) m.hostState.set({ backend, state: s }, s === state ? 1 : 0);
      m.hostInflight.set({ backend }, Number(view.inflight));
      m.hostForeignQueue.set({ backend }, mon.snapshot.foreign_queued);
      if (mon.snapshot.vram_total !== null) m.hostVramTotal.set({ backend }, mon.snapshot.vram_total);
      if (mon.snapshot.vram_free !== null) m.hostVramFree.set({ backend }, mon.snapshot.vram_free);
      const total = mon.pollErrors;
      const seen = this.pollErrorsSeen.get(backend) ?? 0;
      // A replaced monitor starts again from 0: count its errors from there.
      const delta = total >= seen ? total - seen : total;
      if (delta > 0) m.hostPollErrors.inc({ backend }, delta);
      else m.hostPollErrors.inc({ backend }, 0);
      this.pollErrorsSeen.set(backend, total);
    }
    for (const id of this.pollErrorsSeen.keys()) if (!present.has(id)) this.pollErrorsSeen.delete(id);
  }
}
