// Learned host speed in the database, one row per host and workflow, so the scheduler's estimates survive restarts.

import type { WorkUnit } from "../engine/job-work.js";
import type { SqlDatabase } from "./sql.js";

export interface SpeedRecord {
  backend_id: string;
  workflow_id: string;
  /** What one unit of work is for this workflow (job-work.ts). */
  unit: WorkUnit;
  /** EWMA of a job's run time (model load excluded) per unit of work, ms; null until measured. */
  run_ms_per_unit: number | null;
  run_samples: number;
  /** EWMA of the time a model load added to a job, ms; null until one was measured. */
  load_ms: number | null;
  load_samples: number;
  updated_at: string;
}

export class HostSpeedStore {
  private readonly stmts;

  constructor(db: SqlDatabase) {
    this.stmts = {
      all: db.prepare("SELECT * FROM host_speed"),
      ofBackend: db.prepare("SELECT * FROM host_speed WHERE backend_id = ?"),
      upsert: db.prepare(`INSERT INTO host_speed (backend_id, workflow_id, unit, run_ms_per_unit, run_samples,
        load_ms, load_samples, updated_at) VALUES (@backend_id, @workflow_id, @unit, @run_ms_per_unit, @run_samples,
        @load_ms, @load_samples, @updated_at)
        ON CONFLICT (backend_id, workflow_id) DO UPDATE SET unit = excluded.unit, run_ms_per_unit = excluded.run_ms_per_unit,
        run_samples = excluded.run_samples, load_ms = excluded.load_ms, load_samples = excluded.load_samples,
        updated_at = excluded.updated_at`),
    };
  }

  all(): SpeedRecord[] {
    return this.stmts.all.all() as SpeedRecord[];
  }

  ofBackend(backendId: string): SpeedRecord[] {
    return this.stmts.ofBackend.all(backendId) as SpeedRecord[];
  }

  save(r: SpeedRecord): void {
    this.stmts.upsert.run(r);
  }
}
