// Jobs in SQLite: the queue, every state change and every output live here, so memory only holds what can
// be rebuilt from it. Status changes are compare-and-set, so two racing paths can never both win.

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
import {
  type JobPatch,
  json,
  PATCH_COLUMNS,
  type Row,
  toAttempt,
  toInsertRow,
  toJob,
  toOutput,
} from "./job-rows.js";
import { prepareJobStatements } from "./job-statements.js";
import { ProjectRows } from "./project-rows.js";
import { QueueIndex } from "./queue-index.js";
import type { SqlDatabase } from "./sql.js";

export type { JobPatch } from "./job-rows.js";

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
    this.stmts = prepareJobStatements(db);
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
    const r = this.stmts.insert.get(toInsertRow(job));
    return Number((r as { seq: number }).seq);
  }

  get(id: string): Job | null {
    const row = this.stmts.get.get(id) as Row | undefined;
    return row ? this.toJob(row, true) : null;
  }

  attempts(id: string): JobAttempt[] {
    return (this.stmts.attempts.all(id) as Row[]).map(toAttempt);
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
  private toJob(r: Row, withOutputs: boolean, readAhead?: Map<string, Row[]>): Job {
    if (!withOutputs) return toJob(r);
    const outputs = this.outputsOf(r, readAhead);
    const nodes =
      r.project != null ? this.projects.fullRuns(r.id as string).map((n) => this.toJob(n, true)) : undefined;
    return toJob(r, { outputs, nodes });
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
