// The host_leases table (PostgreSQL only): which replica drives each ComfyUI host, until when. Expiry is the
// database's clock (now()), so no two replicas' clocks have to agree; every write is one statement whose
// WHERE decides who wins, so two replicas racing for one host cannot both get it.
import type { PgSyncDatabase } from "../storage/pg-sync.js";

const LEASE_UNTIL = "now() + $2::float8 * interval '1 millisecond'";

export class LeaseStore {
  constructor(
    private readonly db: PgSyncDatabase,
    private readonly replicaId: string,
  ) {}

  /**
   * Takes a host whose lease is free, expired, or still this replica's from a previous process under the
   * same replica id (which cannot be driving it any more). True when it is ours now.
   */
  acquire(backendId: string, leaseMs: number): boolean {
    const { rows } = this.db.query(
      `INSERT INTO host_leases (backend_id, replica_id, acquired_at, expires_at)
       VALUES ($1, $3, now(), ${LEASE_UNTIL})
       ON CONFLICT (backend_id) DO UPDATE SET replica_id = excluded.replica_id,
         acquired_at = excluded.acquired_at, expires_at = excluded.expires_at
       WHERE host_leases.expires_at <= now() OR host_leases.replica_id = excluded.replica_id
       RETURNING backend_id`,
      [backendId, leaseMs, this.replicaId],
    );
    return rows.length === 1;
  }

  /** Extends the leases this replica still holds among `ids`; returns those it does. An expired one is lost. */
  renew(ids: readonly string[], leaseMs: number): Set<string> {
    if (!ids.length) return new Set();
    const { rows } = this.db.query(
      `UPDATE host_leases SET expires_at = ${LEASE_UNTIL}
       WHERE replica_id = $1 AND backend_id = ANY($3::text[]) AND expires_at > now()
       RETURNING backend_id`,
      [this.replicaId, leaseMs, [...ids]],
    );
    return new Set(rows.map((r) => String(r.backend_id)));
  }

  /**
   * Whether the lease on `backendId` is still ours. Inside a transaction it also holds the lease row (FOR
   * SHARE) until commit, so a replica taking the host over waits for the write and then recovers what it wrote.
   */
  holds(backendId: string): boolean {
    const { rows } = this.db.query(
      `SELECT 1 AS ours FROM host_leases WHERE backend_id = $1 AND replica_id = $2 AND expires_at > now()
       FOR SHARE`,
      [backendId, this.replicaId],
    );
    return rows.length === 1;
  }

  /** Hands hosts back at once (a clean stop, or a surplus host for a replica that has fewer). */
  release(ids: readonly string[]): void {
    if (!ids.length) return;
    this.db.query("DELETE FROM host_leases WHERE replica_id = $1 AND backend_id = ANY($2::text[])", [
      this.replicaId,
      [...ids],
    ]);
  }

  /** Each leased host's driver now (hosts whose lease expired are driven by nobody). */
  holders(): Map<string, string> {
    const { rows } = this.db.query("SELECT backend_id, replica_id FROM host_leases WHERE expires_at > now()");
    return new Map(rows.map((r) => [String(r.backend_id), String(r.replica_id)]));
  }
}
