// A project's rows as the graph runner reads them: its runs (light: no graph, parameters or outputs), the
// projects still open, every output of a multi-node project, and moving its queued runs to the "started"
// dispatch groups. Every query is on the project_id index.

import type { Job, JobStatus, RunLink } from "../models.js";
import type { SqlDatabase } from "./sql.js";

type Row = Record<string, unknown>;
const json = <T>(v: unknown, fallback: T): T => (typeof v === "string" ? (JSON.parse(v) as T) : fallback);

/** What the project graph needs of each run. */
export type RunRow = Pick<
  Job,
  | "id"
  | "status"
  | "project_id"
  | "project_node"
  | "variant"
  | "links"
  | "workflow_id"
  | "priority"
  | "owner"
  | "backend_id"
  | "attempt"
  | "max_attempts"
  | "progress"
  | "error"
  | "started_at"
  | "finished_at"
>;

const RUN_COLUMNS = `id, status, project_id, project_node, variant, links, workflow_id, priority, owner, backend_id,
  attempt, max_attempts, progress, error, started_at, finished_at`;

export class ProjectRows {
  private readonly stmts;

  constructor(private readonly db: SqlDatabase) {
    this.stmts = {
      runs: db.prepare(`SELECT ${RUN_COLUMNS} FROM jobs WHERE project_id = ? ORDER BY seq`),
      fullRuns: db.prepare("SELECT * FROM jobs WHERE project_id = ? AND id != project_id ORDER BY seq"),
      outputs: db.prepare(`SELECT o.*, j.project_node, j.variant FROM job_outputs o
        JOIN jobs j ON j.id = o.job_id WHERE j.project_id = ? AND j.id != j.project_id
        ORDER BY j.seq, o.created_at, o.filename`),
      open: db.prepare(
        // A project's own row is the only row without a queue key (JobIntake): the condition makes this a
        // seek on jobs_queue_key, not a read of every queued job.
        `SELECT id FROM jobs WHERE project IS NOT NULL AND queue_key IS NULL AND status IN ('queued', 'running')
         ORDER BY seq LIMIT ?`,
      ),
      unstartedKeys: db.prepare(`SELECT DISTINCT queue_key FROM jobs WHERE project_id = ? AND id != project_id
        AND status = 'queued' AND queue_key NOT LIKE '%' || CAST(? AS TEXT)`),
      markStarted: db.prepare(`UPDATE jobs SET queue_key = queue_key || CAST(? AS TEXT) WHERE project_id = ?
        AND id != project_id AND status = 'queued' AND queue_key NOT LIKE '%' || CAST(? AS TEXT)`),
    };
  }

  /** Every row of a project in submission order: its own row first, then its runs (one row for a single job). */
  runsOf(projectId: string): RunRow[] {
    return (this.stmts.runs.all(projectId) as Row[]).map((r) => ({
      id: r.id as string,
      status: r.status as JobStatus,
      project_id: r.project_id as string,
      project_node: (r.project_node as string | null) ?? null,
      variant: (r.variant as number | null) ?? null,
      links: json<RunLink[]>(r.links, []),
      workflow_id: r.workflow_id as string,
      priority: r.priority as number,
      owner: (r.owner as string | null) ?? null,
      backend_id: (r.backend_id as string | null) ?? null,
      attempt: r.attempt as number,
      max_attempts: r.max_attempts as number,
      progress: json(r.progress, null),
      error: json(r.error, null),
      started_at: (r.started_at as string | null) ?? null,
      finished_at: (r.finished_at as string | null) ?? null,
    }));
  }

  /** A multi-node project's runs as whole rows (for reading the project). */
  fullRuns(projectId: string): Row[] {
    return this.stmts.fullRuns.all(projectId) as Row[];
  }

  /** Every output of a multi-node project's runs, with the run's node and variant. */
  outputs(projectId: string): Row[] {
    return this.stmts.outputs.all(projectId) as Row[];
  }

  /** Multi-node projects not yet ended. */
  open(limit: number): string[] {
    return (this.stmts.open.all(limit) as { id: string }[]).map((r) => r.id);
  }

  /**
   * Moves a project's queued runs to the "started" twin of their dispatch group (key + `suffix`), so they go
   * before new projects' first nodes of the same priority. Returns the groups that changed (old and new).
   */
  markStarted(projectId: string, suffix: string): string[] {
    return this.db.transaction(() => {
      const keys = (this.stmts.unstartedKeys.all(projectId, suffix) as { queue_key: string }[]).map(
        (r) => r.queue_key,
      );
      this.stmts.markStarted.run(suffix, projectId, suffix);
      return keys.flatMap((k) => [k, `${k}${suffix}`]);
    })();
  }
}
