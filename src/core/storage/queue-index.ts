// The queue as the dispatcher reads it: queued jobs grouped by `queue_key` (what placing a job depends
// on), each group FIFO within a priority. Every query here is an index seek, so its cost does not grow
// with the number of queued jobs.

import type { ApiGraph } from "../models.js";
import type { SqlDatabase } from "./sql.js";

/** The first job of one group: what ordering rules compare. */
export interface QueueHead {
  id: string;
  key: string;
  priority: number;
  seq: number;
  created_at: string;
  /** When it last changed (entered the queue, for a requeued job). */
  updated_at: string;
  /** The API key that submitted it (null while access control is off); one owner per group. */
  owner: string | null;
}

export class QueueIndex {
  private readonly stmts;

  constructor(db: SqlDatabase) {
    this.stmts = {
      head: db.prepare(`SELECT id, queue_key AS key, priority, seq, created_at, updated_at, owner FROM jobs
        WHERE status = 'queued' AND queue_key = ? ORDER BY priority DESC, seq LIMIT 1`),
      // A skip-scan: one index seek per distinct key, however many jobs share it.
      keys: db.prepare(`WITH RECURSIVE k(key) AS (
          SELECT (SELECT MIN(queue_key) FROM jobs WHERE status = 'queued')
          UNION ALL
          SELECT (SELECT MIN(queue_key) FROM jobs WHERE status = 'queued' AND queue_key > k.key)
          FROM k WHERE k.key IS NOT NULL)
        SELECT key FROM k WHERE key IS NOT NULL`),
      keyOf: db.prepare("SELECT queue_key FROM jobs WHERE id = ?"),
      count: db.prepare(`SELECT COUNT(*) AS n FROM (SELECT 1 FROM jobs
        WHERE status = 'queued' AND queue_key = ? LIMIT ?)`),
      setKey: db.prepare("UPDATE jobs SET queue_key = ? WHERE id = ?"),
      needs: db.prepare("SELECT graph, requires, min_vram_gb FROM jobs WHERE id = ?"),
      unkeyed: db.prepare(`SELECT id FROM jobs
        WHERE status IN ('queued', 'retrying') AND queue_key IS NULL AND project IS NULL LIMIT ?`),
    };
  }

  head(key: string): QueueHead | null {
    return (this.stmts.head.get(key) as QueueHead | undefined) ?? null;
  }

  keys(): string[] {
    return (this.stmts.keys.all() as { key: string }[]).map((r) => r.key);
  }

  /** How many jobs wait in one group, counting at most `limit` (a bounded index range). */
  count(key: string, limit: number): number {
    return (this.stmts.count.get(key, limit) as { n: number }).n;
  }

  keyOf(id: string): string | null {
    return (this.stmts.keyOf.get(id) as { queue_key: string | null } | undefined)?.queue_key ?? null;
  }

  setKey(id: string, key: string): void {
    this.stmts.setKey.run(key, id);
  }

  /** What placing a job depends on, as stored (JSON columns parsed). */
  needs(id: string): { graph: ApiGraph; requires: string[]; min_vram_gb: number | null } | null {
    const r = this.stmts.needs.get(id) as
      | { graph: string; requires: string; min_vram_gb: number | null }
      | undefined;
    if (!r) return null;
    return { graph: JSON.parse(r.graph), requires: JSON.parse(r.requires), min_vram_gb: r.min_vram_gb };
  }

  /** Waiting jobs written before queue keys existed (a database from an older version). */
  unkeyed(limit: number): string[] {
    return (this.stmts.unkeyed.all(limit) as { id: string }[]).map((r) => r.id);
  }
}
