// The host_state table (PostgreSQL only): each host's driver publishes what it sees of the host (its
// /api/backends entry) on every change and every lease round, so a replica that does not drive a host
// answers /api/backends from its driver's view — the same answer on every replica.
import type { PgSyncDatabase } from "../storage/pg-sync.js";

export interface PublishedHost {
  replicaId: string;
  view: Record<string, unknown>;
}

/** Fields that change on every poll without anything happening: not a change worth a write of its own. */
const VOLATILE = ["last_seen"];

export class HostStateBoard {
  /** What we last wrote per host, to write only changes between heartbeats. */
  private readonly written = new Map<string, string>();

  constructor(
    private readonly db: PgSyncDatabase,
    private readonly replicaId: string,
  ) {}

  /** Writes a host's view if it changed since our last write (or always, with `force`). */
  publish(backendId: string, view: Record<string, unknown>, force = false): void {
    const stable = JSON.stringify({ ...view, ...Object.fromEntries(VOLATILE.map((k) => [k, null])) });
    if (!force && this.written.get(backendId) === stable) return;
    this.db.query(
      `INSERT INTO host_state (backend_id, replica_id, view, updated_at) VALUES ($1, $2, $3, now())
       ON CONFLICT (backend_id) DO UPDATE SET replica_id = excluded.replica_id, view = excluded.view,
         updated_at = excluded.updated_at`,
      [backendId, this.replicaId, JSON.stringify(view)],
    );
    this.written.set(backendId, stable);
  }

  /** Another replica drives the host now: our next write of it must not be skipped as unchanged. */
  forget(backendId: string): void {
    this.written.delete(backendId);
  }

  /** The host's view if it was published within the last `withinMs` (by the database's clock). */
  readRecent(backendId: string, withinMs: number): PublishedHost | null {
    const row = this.db.query(
      `SELECT replica_id, view FROM host_state
       WHERE backend_id = $1 AND updated_at > now() - $2::float8 * interval '1 millisecond'`,
      [backendId, withinMs],
    ).rows[0];
    return row
      ? { replicaId: String(row.replica_id), view: JSON.parse(String(row.view)) as Record<string, unknown> }
      : null;
  }

  read(): Map<string, PublishedHost> {
    const { rows } = this.db.query("SELECT backend_id, replica_id, view FROM host_state");
    return new Map(
      rows.map((r) => [
        String(r.backend_id),
        { replicaId: String(r.replica_id), view: JSON.parse(String(r.view)) as Record<string, unknown> },
      ]),
    );
  }
}
