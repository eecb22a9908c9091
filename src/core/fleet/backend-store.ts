// The fleet's rows in SQLite (table backend_overrides): one per host that the API added, changed, drained,
// disabled or is removing. config.yaml stays the source of the hosts it lists; see fleet-merge.ts.

import type { BackendConfig } from "../../config.js";
import type { SqlDatabase } from "../storage/sql.js";

/**
 * api: added by POST /api/backends (definition = the whole host); config: a config.yaml host the API
 * changed (definition = the PATCHed fields); retired: a host that left config.yaml while jobs still ran
 * on it (definition = the whole host, kept until it has drained).
 */
export type BackendOrigin = "api" | "config" | "retired";

export interface BackendRow {
  id: string;
  origin: BackendOrigin;
  definition: Partial<BackendConfig>;
  config_hash: string | null;
  /** null: as defined; else an enable/disable made at runtime. */
  enabled: boolean | null;
  draining: boolean;
  /** DELETE asked for: draining, then the row goes (or becomes `removed` for a config.yaml host). */
  removing: boolean;
  /** A config.yaml host deleted through the API: stays away while its entry in the file is unchanged. */
  removed: boolean;
}

type Raw = Record<string, unknown>;

export class BackendStore {
  private readonly stmts;

  constructor(db: SqlDatabase) {
    this.stmts = {
      all: db.prepare("SELECT * FROM backend_overrides ORDER BY id"),
      get: db.prepare("SELECT * FROM backend_overrides WHERE id = ?"),
      upsert: db.prepare(
        `INSERT INTO backend_overrides (id, origin, definition, config_hash, enabled, draining, removing, removed, updated_at)
         VALUES (@id, @origin, @definition, @config_hash, @enabled, @draining, @removing, @removed, @updated_at)
         ON CONFLICT (id) DO UPDATE SET origin = @origin, definition = @definition, config_hash = @config_hash,
           enabled = @enabled, draining = @draining, removing = @removing, removed = @removed, updated_at = @updated_at`,
      ),
      delete: db.prepare("DELETE FROM backend_overrides WHERE id = ?"),
    };
  }

  all(): BackendRow[] {
    return (this.stmts.all.all() as Raw[]).map(toRow);
  }

  get(id: string): BackendRow | null {
    const r = this.stmts.get.get(id) as Raw | undefined;
    return r ? toRow(r) : null;
  }

  save(row: BackendRow): void {
    this.stmts.upsert.run({
      id: row.id,
      origin: row.origin,
      definition: JSON.stringify(row.definition),
      config_hash: row.config_hash,
      enabled: row.enabled === null ? null : row.enabled ? 1 : 0,
      draining: row.draining ? 1 : 0,
      removing: row.removing ? 1 : 0,
      removed: row.removed ? 1 : 0,
      updated_at: new Date().toISOString(),
    });
  }

  delete(id: string): void {
    this.stmts.delete.run(id);
  }
}

function toRow(r: Raw): BackendRow {
  return {
    id: r.id as string,
    origin: r.origin as BackendOrigin,
    definition: JSON.parse(r.definition as string) as Partial<BackendConfig>,
    config_hash: (r.config_hash as string | null) ?? null,
    enabled: r.enabled === null || r.enabled === undefined ? null : r.enabled === 1,
    draining: r.draining === 1,
    removing: r.removing === 1,
    removed: r.removed === 1,
  };
}
