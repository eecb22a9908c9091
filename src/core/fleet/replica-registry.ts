// The replicas table (PostgreSQL only): each replica's heartbeat, its address and the hosts it drives. The
// live count is what the spread of host leases divides by; /api/health shows it.
import type { PgSyncDatabase } from "../storage/pg-sync.js";

export class ReplicaRegistry {
  constructor(
    private readonly db: PgSyncDatabase,
    readonly replicaId: string,
  ) {}

  /** Announces this replica (a restart under the same id starts its row over). */
  join(url: string | null): void {
    // Replicas that died long ago (a SIGKILL leaves its row) are history, not fleet.
    this.db.query("DELETE FROM replicas WHERE seen_at < now() - interval '1 day'");
    this.db.query(
      `INSERT INTO replicas (id, started_at, seen_at, url, drives) VALUES ($1, now(), now(), $2, '[]')
       ON CONFLICT (id) DO UPDATE SET started_at = now(), seen_at = now(), url = excluded.url, drives = '[]'`,
      [this.replicaId, url],
    );
  }

  beat(drives: readonly string[], url: string | null): void {
    this.db.query(
      `INSERT INTO replicas (id, url, drives) VALUES ($1, $2, $3)
       ON CONFLICT (id) DO UPDATE SET seen_at = now(), url = COALESCE(excluded.url, replicas.url),
         drives = excluded.drives`,
      [this.replicaId, url, JSON.stringify([...drives].sort())],
    );
  }

  /** Replicas seen within the last `leaseMs` (this one included, once it has beaten). */
  live(leaseMs: number): number {
    const { rows } = this.db.query(
      "SELECT COUNT(*) AS n FROM replicas WHERE seen_at > now() - $1::float8 * interval '1 millisecond'",
      [leaseMs],
    );
    return Number(rows[0]?.n ?? 0);
  }

  /** A clean stop: the others stop counting this replica at once. */
  leave(): void {
    this.db.query("DELETE FROM replicas WHERE id = $1", [this.replicaId]);
  }
}
