// Jobs in SQLite: the queue, every state change and every output live here, so memory only holds what can
// be rebuilt from it. Status changes are compare-and-set, so two racing paths can never both win.

import { readableJson } from "../json-limits.js";
import {
  JOB_TRANSITIONS,
  type Job,
  type JobAttempt,
  type JobError,
  type JobOutput,
  type JobProgress,
  type JobStatus,
} from "../models.js";
import { GroupCommit } from "./group-commit.js";
import type { InsertGuard } from "./insert-guard.js";
import { ProjectRows } from "./project-rows.js";
import { QueueIndex } from "./queue-index.js";
import type { SqlDatabase } from "./sql.js";

type Row = Record<string, unknown>;
const json = <T>(v: unknown, fallback: T): T => (typeof v === "string" ? (JSON.parse(v) as T) : fallback);
const now = () => new Date().toISOString();

export type NewJob = Omit<Job, "seq" | "outputs" | "updated_at" | "outputs_expired"> & {
  /** The job's dispatch group (see DispatchQueue). */
  queue_key?: string | null;
};

export type QueuedJob = Pick<Job, "id" | "requires" | "min_vram_gb">;

export interface JobListQuery {
  statuses?: JobStatus[];
  workflow_id?: string;
  /** Only this key's jobs (a non-admin key's view). */
  owner?: string;
  limit: number;
  cursor?: number;
}

/** Fields a transition may set besides the status. */
export interface JobPatch {
  backend_id?: string | null;
  prompt_id?: string | null;
  attempt?: number;
  progress?: JobProgress | null;
  error?: JobError | null;
  started_at?: string | null;
  finished_at?: string | null;
  not_before?: string | null;
  graph?: Job["graph"];
  inputs?: Job["inputs"];
}

const PATCH_COLUMNS: Record<keyof JobPatch, (v: unknown) => unknown> = {
  backend_id: (v) => v,
  prompt_id: (v) => v,
  attempt: (v) => v,
  progress: (v) => (v == null ? null : JSON.stringify(v)),
  error: (v) => (v == null ? null : JSON.stringify(v)),
  started_at: (v) => v,
  finished_at: (v) => v,
  not_before: (v) => v,
  graph: (v) => JSON.stringify(v),
  inputs: (v) => JSON.stringify(v),
};

export class JobStore {
  private readonly stmts;
  /** "postgres" when replicas may share the database (what JobIntake guards against). */
  readonly engine;
  private readonly inserts: GroupCommit;

  readonly queue: QueueIndex;
  readonly projects: ProjectRows;

  constructor(private readonly db: SqlDatabase) {
    this.engine = db.engine;
    this.inserts = new GroupCommit(db, (jobs) => this.insertAll(jobs));
    this.queue = new QueueIndex(db);
    this.projects = new ProjectRows(db);
    this.stmts = {
      insert:
        db.prepare(`INSERT INTO jobs (id, status, workflow_id, workflow_version, parameters, graph, requires,
        min_vram_gb, timeout_s, priority, idempotency_key, webhook_url, metadata, inputs, backend_id, prompt_id,
        attempt, max_attempts, progress, error, created_at, updated_at, started_at, finished_at, not_before,
        queue_key, owner, project_id, project_node, variant, project, links)
        VALUES (@id, @status, @workflow_id, @workflow_version, @parameters, @graph, @requires, @min_vram_gb,
        @timeout_s, @priority, @idempotency_key, @webhook_url, @metadata, @inputs, @backend_id, @prompt_id,
        @attempt, @max_attempts, @progress, @error, @created_at, @created_at, @started_at, @finished_at,
        @not_before, @queue_key, @owner, @project_id, @project_node, @variant, @project, @links) RETURNING seq`),
      get: db.prepare("SELECT * FROM jobs WHERE id = ?"),
      outputs: db.prepare("SELECT * FROM job_outputs WHERE job_id = ? ORDER BY created_at, filename"),
      projectOutputs: db.prepare(`SELECT o.*, j.project_node, j.variant FROM job_outputs o
        JOIN jobs j ON j.id = o.job_id WHERE j.project_id = ? AND j.id != j.project_id
        ORDER BY j.seq, o.created_at, o.filename`),
      attempts: db.prepare("SELECT * FROM job_attempts WHERE job_id = ? ORDER BY attempt"),
      // Scoped to the key that made the job, so one client's idempotency key never returns another's job.
      byKey: db.prepare(
        "SELECT id FROM jobs WHERE idempotency_key = ? AND owner IS NOT DISTINCT FROM ? AND created_at >= ? ORDER BY seq DESC LIMIT 1",
      ),
      ownerOf: db.prepare("SELECT owner FROM jobs WHERE id = ?"),
      statusOf: db.prepare("SELECT status FROM jobs WHERE id = ?"),
      // A project counts once (its own row), not once per node run.
      unfinishedOf: db.prepare(`SELECT COUNT(*) AS n FROM jobs WHERE owner = ? AND owner IS NOT NULL
        AND status IN ('queued', 'dispatching', 'running', 'retrying') AND (project_id IS NULL OR project_id = id)`),
      queued: db.prepare(
        "SELECT id, requires, min_vram_gb FROM jobs WHERE status = 'queued' ORDER BY priority DESC, seq LIMIT ?",
      ),
      graph: db.prepare("SELECT graph FROM jobs WHERE id = ?"),
      webhookUrl: db.prepare("SELECT webhook_url FROM jobs WHERE id = ?"),
      outputNames: db.prepare(
        "SELECT filename FROM job_outputs WHERE job_id = ? ORDER BY created_at, filename",
      ),
      byStatus: db.prepare("SELECT * FROM jobs WHERE status = ? ORDER BY seq LIMIT ?"),
      onBackend: db.prepare(
        "SELECT * FROM jobs WHERE status IN ('dispatching', 'running') AND backend_id = ? ORDER BY seq LIMIT ?",
      ),
      unfinishedBackends: db.prepare(
        "SELECT DISTINCT backend_id FROM jobs WHERE status IN ('dispatching', 'running') AND backend_id IS NOT NULL",
      ),
      counts: db.prepare(
        "SELECT status, COUNT(*) AS n FROM jobs WHERE project_id IS NULL OR project_id = id GROUP BY status",
      ),
      addOutput: db.prepare(`INSERT INTO job_outputs (job_id, filename, node_id, comfy_filename,
        comfy_subfolder, comfy_type, kind, content_type, size, sha256, created_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (job_id, filename) DO UPDATE SET node_id = excluded.node_id,
        comfy_filename = excluded.comfy_filename, comfy_subfolder = excluded.comfy_subfolder,
        comfy_type = excluded.comfy_type, kind = excluded.kind, content_type = excluded.content_type,
        size = excluded.size, sha256 = excluded.sha256, created_at = excluded.created_at`),
      deleteOutputs: db.prepare("DELETE FROM job_outputs WHERE job_id = ?"),
      startAttempt: db.prepare(`INSERT INTO job_attempts (job_id, attempt, backend_id, prompt_id, started_at)
        VALUES (?, ?, ?, ?, ?) ON CONFLICT (job_id, attempt) DO UPDATE SET backend_id = excluded.backend_id,
        prompt_id = excluded.prompt_id, started_at = excluded.started_at, ended_at = NULL, error = NULL`),
      endAttempt: db.prepare(
        "UPDATE job_attempts SET ended_at = ?, error = ? WHERE job_id = ? AND attempt = ? AND ended_at IS NULL",
      ),
      setAttemptPrompt: db.prepare("UPDATE job_attempts SET prompt_id = ? WHERE job_id = ? AND attempt = ?"),
      queuedBefore: db.prepare(
        // A run that waited on upstream nodes counts its queue time from when it became ready.
        `SELECT id FROM jobs WHERE status = 'queued' AND project IS NULL AND created_at < ?
         AND (links = '[]' OR updated_at < ?) ORDER BY created_at LIMIT ?`,
      ),
      setPrompt: db.prepare("UPDATE jobs SET prompt_id = ?, updated_at = ? WHERE id = ? AND attempt = ?"),
      progress: db.prepare(
        "UPDATE jobs SET progress = ?, updated_at = ? WHERE id = ? AND status = 'running'",
      ),
      expire: db.prepare("UPDATE jobs SET outputs_expired = 1, updated_at = ? WHERE id = ?"),
      metaGet: db.prepare("SELECT value FROM meta WHERE key = ?"),
      metaClaim: db.prepare("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"),
      metaSet: db.prepare(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      ),
      finishedBefore: db.prepare(`SELECT id FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?
        AND status IN ('completed', 'failed', 'cancelled', 'skipped')
        AND outputs_expired = 0 ORDER BY finished_at LIMIT ?`),
    };
  }

  /**
   * Group commit (see GroupCommit): resolves with the job's seq once it is committed; rejects with what
   * `guard.check` threw when the guard refuses the rows (see InsertGuard).
   */
  insertSoon(job: NewJob | NewJob[], guard?: InsertGuard): Promise<number> {
    return this.inserts.add(Array.isArray(job) ? job : [job], guard);
  }

  /** A project's rows in one go; returns the first row's seq. */
  private insertAll(jobs: NewJob[]): number {
    const seqs = jobs.map((j) => this.insert(j));
    return seqs[0]!;
  }

  /** Returns the job's sequence number (its position in submission order, used as the list cursor). */
  insert(job: NewJob): number {
    const r = this.stmts.insert.get({
      ...job,
      parameters: JSON.stringify(job.parameters),
      graph: JSON.stringify(job.graph),
      requires: JSON.stringify(job.requires),
      metadata: job.metadata ? JSON.stringify(job.metadata) : null,
      inputs: JSON.stringify(job.inputs),
      progress: job.progress ? JSON.stringify(job.progress) : null,
      error: job.error ? JSON.stringify(job.error) : null,
      queue_key: job.queue_key ?? null,
      project: job.project ? JSON.stringify(job.project) : null,
      links: JSON.stringify(job.links),
    });
    return Number((r as { seq: number }).seq);
  }

  get(id: string): Job | null {
    const row = this.stmts.get.get(id) as Row | undefined;
    return row ? this.toJob(row, true) : null;
  }

  attempts(id: string): JobAttempt[] {
    return (this.stmts.attempts.all(id) as Row[]).map((r) => ({
      attempt: r.attempt as number,
      backend_id: r.backend_id as string,
      prompt_id: (r.prompt_id as string | null) ?? null,
      started_at: r.started_at as string,
      ended_at: (r.ended_at as string | null) ?? null,
      error: json<JobError | null>(r.error, null),
    }));
  }

  findByIdempotencyKey(key: string, owner: string | null, notBefore: string): string | null {
    const row = this.stmts.byKey.get(key, owner, notBefore) as { id: string } | undefined;
    return row?.id ?? null;
  }

  /** undefined: no such job; null: a job made while access control was off. */
  statusOf(id: string): JobStatus | undefined {
    return (this.stmts.statusOf.get(id) as { status: JobStatus } | undefined)?.status;
  }

  ownerOf(id: string): string | null | undefined {
    const row = this.stmts.ownerOf.get(id) as { owner: string | null } | undefined;
    return row ? row.owner : undefined;
  }

  /** Jobs of one key not yet finished (what `max_queued` limits). */
  unfinishedOf(owner: string): number {
    return (this.stmts.unfinishedOf.get(owner) as { n: number }).n;
  }

  list(q: JobListQuery): { jobs: Job[]; next_cursor: string | null } {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.statuses?.length) {
      where.push(`status IN (${q.statuses.map(() => "?").join(", ")})`);
      args.push(...q.statuses);
    }
    if (q.workflow_id) {
      where.push("workflow_id = ?");
      args.push(q.workflow_id);
    }
    if (q.owner !== undefined) {
      where.push("owner = ?");
      args.push(q.owner);
    }
    // A multi-node project's runs are part of their project, not jobs of their own.
    where.push("(project_id IS NULL OR project_id = id)");
    if (q.cursor !== undefined) {
      where.push("seq < ?");
      args.push(q.cursor);
    }
    const sql = `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT ?`;
    const rows = this.db.prepare(sql).all(...args, q.limit + 1) as Row[];
    const more = rows.length > q.limit;
    const page = rows.slice(0, q.limit);
    const outputs = this.outputsByJob(page.filter((r) => r.project == null).map((r) => r.id as string));
    const jobs = page.map((r) => this.toJob(r, true, outputs));
    return { jobs, next_cursor: more ? String(jobs[jobs.length - 1]!.seq) : null };
  }

  /**
   * The head of the queue, highest priority first and FIFO within a priority: only what placing a job
   * needs, since a dispatch pass reads it on every free slot and most of a row is its graph.
   */
  queued(limit: number): QueuedJob[] {
    return (this.stmts.queued.all(limit) as Row[]).map((r) => ({
      id: r.id as string,
      requires: json<string[]>(r.requires, []),
      min_vram_gb: (r.min_vram_gb as number | null) ?? null,
    }));
  }

  /** Cheap look-ups for paths that run on every job's end and need one field, not the whole row. */
  webhookUrlOf(id: string): string | null {
    return (this.stmts.webhookUrl.get(id) as { webhook_url: string | null } | undefined)?.webhook_url ?? null;
  }

  outputNames(id: string): string[] {
    return (this.stmts.outputNames.all(id) as { filename: string }[]).map((r) => r.filename);
  }

  graphOf(id: string): Job["graph"] | null {
    const row = this.stmts.graph.get(id) as { graph: string } | undefined;
    return row ? json(row.graph, {}) : null;
  }

  withStatus(status: JobStatus, limit: number): Job[] {
    return (this.stmts.byStatus.all(status, limit) as Row[]).map((r) => this.toJob(r, false));
  }

  /** Jobs dispatching or running on one host: what its next driver re-attaches to. */
  onBackend(backendId: string, limit: number): Job[] {
    return (this.stmts.onBackend.all(backendId, limit) as Row[]).map((r) => this.toJob(r, false));
  }

  /** Every host some job is dispatching or running on. */
  unfinishedBackends(): string[] {
    return (this.stmts.unfinishedBackends.all() as { backend_id: string }[]).map((r) => r.backend_id);
  }

  counts(): Record<JobStatus, number> {
    const out = {
      waiting: 0,
      skipped: 0,
      queued: 0,
      dispatching: 0,
      running: 0,
      retrying: 0,
      completed: 0,
      failed: 0,
      cancelled: 0,
    };
    for (const r of this.stmts.counts.all() as { status: JobStatus; n: number }[]) out[r.status] = r.n;
    return out;
  }

  /**
   * Moves a job to `to` only if it is still in one of `from`: the write that wins the race decides.
   * Returns false when another path already moved the job.
   */
  transition(id: string, from: readonly JobStatus[], to: JobStatus, patch: JobPatch = {}): boolean {
    const illegal = from.filter((f) => !JOB_TRANSITIONS[f].includes(to));
    if (illegal.length) throw new Error(`illegal job transition ${illegal.join("|")} → ${to}`);
    const sets = ["status = ?", "updated_at = ?"];
    const args: unknown[] = [to, now()];
    for (const [key, value] of Object.entries(patch) as [keyof JobPatch, unknown][]) {
      if (value === undefined) continue;
      sets.push(`${key} = ?`);
      args.push(PATCH_COLUMNS[key](value));
    }
    const sql = `UPDATE jobs SET ${sets.join(", ")} WHERE id = ? AND status IN (${from.map(() => "?").join(", ")})`;
    return this.db.prepare(sql).run(...args, id, ...from).changes === 1;
  }

  /** Ids of jobs still queued that were created before `iso` (for the queue timeout). */
  queuedBefore(iso: string, limit: number): string[] {
    return (this.stmts.queuedBefore.all(iso, iso, limit) as { id: string }[]).map((r) => r.id);
  }

  /** Records the prompt id a host chose (older hosts ignore ours). */
  setPromptId(id: string, attempt: number, promptId: string): void {
    this.transaction(() => {
      this.stmts.setPrompt.run(promptId, now(), id, attempt);
      this.stmts.setAttemptPrompt.run(promptId, id, attempt);
    });
  }

  setProgress(id: string, progress: JobProgress): void {
    this.stmts.progress.run(JSON.stringify(progress), now(), id);
  }

  startAttempt(id: string, attempt: number, backendId: string, promptId: string | null): void {
    this.stmts.startAttempt.run(id, attempt, backendId, promptId, now());
  }

  setAttemptPrompt(id: string, attempt: number, promptId: string): void {
    this.stmts.setAttemptPrompt.run(promptId, id, attempt);
  }

  endAttempt(id: string, attempt: number, error: JobError | null): void {
    this.stmts.endAttempt.run(now(), error ? JSON.stringify(error) : null, id, attempt);
  }

  addOutput(jobId: string, o: JobOutput): void {
    this.stmts.addOutput.run(
      jobId,
      o.filename,
      o.node_id,
      o.comfy.filename,
      o.comfy.subfolder,
      o.comfy.type,
      o.kind,
      o.content_type,
      o.size,
      o.sha256,
      o.created_at,
    );
  }

  /** Jobs finished before `iso` whose files are still on disk, oldest first. */
  finishedBefore(iso: string, limit: number): string[] {
    return (this.stmts.finishedBefore.all(iso, limit) as { id: string }[]).map((r) => r.id);
  }

  markOutputsExpired(jobId: string): void {
    this.db.transaction(() => {
      this.stmts.deleteOutputs.run(jobId);
      this.stmts.expire.run(now(), jobId);
    })();
  }

  getMeta(key: string): string | null {
    return (this.stmts.metaGet.get(key) as { value: string } | undefined)?.value ?? null;
  }

  /** Stores `value` unless `key` has one already; returns the value that is stored. */
  claimMeta(key: string, value: string): string {
    this.stmts.metaClaim.run(key, value);
    return this.getMeta(key) ?? value;
  }

  setMeta(key: string, value: string): void {
    this.stmts.metaSet.run(key, value);
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /**
   * The output rows of several jobs in one statement, as `outputs` orders them per job: a page read one
   * lookup per job was 200 statements, each a round trip through the synchronous bridge on PostgreSQL
   * (70–100 ms per page of 200).
   */
  private outputsByJob(ids: readonly string[]): Map<string, Row[]> {
    const byJob = new Map<string, Row[]>();
    if (!ids.length) return byJob;
    const rows = this.db
      .prepare(`SELECT * FROM job_outputs WHERE job_id IN (${ids.map(() => "?").join(", ")})
        ORDER BY job_id, created_at, filename`)
      .all(...ids) as Row[];
    for (const o of rows) {
      const id = o.job_id as string;
      const list = byJob.get(id);
      if (list) list.push(o);
      else byJob.set(id, [o]);
    }
    return byJob;
  }

  /** `outputs`: the page's output rows read ahead by outputsByJob (a job missing from it has none). */
  private toJob(r: Row, withOutputs: boolean, outputs?: Map<string, Row[]>): Job {
    return {
      id: r.id as string,
      seq: r.seq as number,
      status: r.status as JobStatus,
      workflow_id: r.workflow_id as string,
      workflow_version: r.workflow_version as string,
      parameters: readableJson(json(r.parameters, {})),
      graph: json(r.graph, {}),
      requires: json(r.requires, []),
      min_vram_gb: (r.min_vram_gb as number | null) ?? null,
      timeout_s: r.timeout_s as number,
      priority: r.priority as number,
      idempotency_key: (r.idempotency_key as string | null) ?? null,
      owner: (r.owner as string | null) ?? null,
      webhook_url: (r.webhook_url as string | null) ?? null,
      metadata: readableJson(json(r.metadata, null)),
      inputs: json(r.inputs, []),
      backend_id: (r.backend_id as string | null) ?? null,
      prompt_id: (r.prompt_id as string | null) ?? null,
      attempt: r.attempt as number,
      max_attempts: r.max_attempts as number,
      progress: json(r.progress, null),
      error: json(r.error, null),
      outputs: withOutputs ? this.outputsOf(r, outputs) : [],
      outputs_expired: r.outputs_expired === 1,
      created_at: r.created_at as string,
      updated_at: r.updated_at as string,
      started_at: (r.started_at as string | null) ?? null,
      finished_at: (r.finished_at as string | null) ?? null,
      not_before: (r.not_before as string | null) ?? null,
      project_id: (r.project_id as string | null) ?? (r.id as string),
      project_node: (r.project_node as string | null) ?? null,
      variant: (r.variant as number | null) ?? null,
      project: json(r.project, null),
      links: json(r.links, []),
      ...(withOutputs && r.project != null
        ? { nodes: this.projects.fullRuns(r.id as string).map((n) => this.toJob(n, true)) }
        : {}),
    };
  }

  /** A multi-node project's row lists every node's outputs; any other row its own. */
  private outputsOf(r: Row, readAhead?: Map<string, Row[]>): JobOutput[] {
    if (r.project == null) {
      const node = (r.project_node as string | null) ?? undefined;
      const rows = readAhead
        ? (readAhead.get(r.id as string) ?? [])
        : (this.stmts.outputs.all(r.id) as Row[]);
      return rows.map((o) => ({
        ...toOutput(o),
        ...(node ? { project_node: node, variant: (r.variant as number | null) ?? null } : {}),
      }));
    }
    return this.projects.outputs(r.id as string).map((o) => ({
      ...toOutput(o),
      project_node: o.project_node as string,
      variant: (o.variant as number | null) ?? null,
      run_id: o.job_id as string,
    }));
  }
}

function toOutput(r: Row): JobOutput {
  return {
    node_id: r.node_id as string,
    filename: r.filename as string,
    comfy: {
      filename: r.comfy_filename as string,
      subfolder: r.comfy_subfolder as string,
      type: r.comfy_type as string,
    },
    kind: r.kind as string,
    content_type: r.content_type as string,
    size: r.size as number,
    sha256: r.sha256 as string,
    created_at: r.created_at as string,
  };
}
