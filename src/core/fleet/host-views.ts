// Each host as /api/backends shows it, the same on every replica: the live view for a host this replica
// drives, and for any other the view its driver published (host-state.ts); each names its driver (driven_by).
import type { BackendMonitor } from "../../backends/monitor.js";
import type { Scheduler } from "../engine/scheduler.js";
import type { WarmupStatus } from "../engine/warmup.js";
import type { HostStateBoard } from "./host-state.js";

export class HostViews {
  constructor(
    private readonly scheduler: Scheduler,
    private readonly replicaId: string,
    /** The replica driving each host now (host-driving.ts). */
    private readonly holders: () => Map<string, string>,
    /** More about a host from the engine (warm models, learned speed). */
    private readonly extra: (id: string) => Record<string, unknown>,
    /** null on SQLite: the one server drives every host. */
    private readonly board: HostStateBoard | null,
  ) {}

  /** What this replica itself sees of `m`. */
  local(m: BackendMonitor, drivenBy: string | null): Record<string, unknown> {
    return { ...this.scheduler.describe(m), ...this.extra(m.id), driven_by: drivenBy };
  }

  /** The host as its driver sees it. */
  one(m: BackendMonitor): Record<string, unknown> {
    return this.views([m])[0]!;
  }

  all(): Record<string, unknown>[] {
    return this.views(this.scheduler.all());
  }

  /** Publishes a driven host's view (on a change, or always with `force`). */
  publish(m: BackendMonitor, force = false): void {
    if (this.board && this.scheduler.drives(m.id))
      this.board.publish(m.id, this.local(m, this.replicaId), force);
  }

  /**
   * The warm-up the host's last driver reported within `withinMs`, if the host was online then (null: none,
   * or unknown).
   */
  lastWarmup(id: string, withinMs: number): WarmupStatus | null {
    const view = this.board?.readRecent(id, withinMs)?.view;
    if (!view || view.status === "offline") return null;
    return (view.warmup as WarmupStatus | null | undefined) ?? null;
  }

  forget(id: string): void {
    this.board?.forget(id);
  }

  private views(hosts: BackendMonitor[]): Record<string, unknown>[] {
    const me = this.replicaId;
    if (!this.board) return hosts.map((m) => this.local(m, me));
    const holders = this.holders();
    const published = hosts.some((m) => !this.scheduler.drives(m.id)) ? this.board.read() : new Map();
    return hosts.map((m) => {
      if (this.scheduler.drives(m.id)) return this.local(m, me);
      const drivenBy = holders.get(m.id) ?? null;
      const row = published.get(m.id);
      // A view published by a replica that no longer drives the host is its last word, shown until the next
      // driver publishes its own; driven_by always says who drives the host now.
      if (row) return { ...row.view, driven_by: drivenBy };
      return this.local(m, drivenBy);
    });
  }
}
