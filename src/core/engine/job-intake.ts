// Turns a submitted Project into queued rows: idempotency (a repeated key returns the first job, even while
// that one is still being written), preparation (every check and stored input), then one group-committed
// insert. What happens to the rows after that is the JobManager's. With replicas on one PostgreSQL database
// the insert re-checks the key and max_queued under advisory locks (InsertGuard), since another replica's
// submit in flight is not in this process's memory.
import type { ImageSourceContext } from "../media/image-input.js";
import type { Job, Project } from "../models.js";
import type { FileStore } from "../storage/file-store.js";
import type { InsertGuard } from "../storage/insert-guard.js";
import type { JobStore, NewJob } from "../storage/job-store.js";
import type { StorageHealth } from "../storage/storage-health.js";
import type { WorkflowStorage } from "../storage/workflow-storage.js";
import { queueKey } from "./dispatch-queue.js";
import { OwnerQuota, type Submitter } from "./owner-quota.js";
import { type ManifestForm, prepareProject } from "./project-preparation.js";
import { requirementsOf } from "./requirements.js";
import type { Scheduler } from "./scheduler.js";

export interface IntakeOptions {
  jobTimeoutS: number;
  maxAttempts: number;
  idempotencyTtlH: number;
  media: Omit<ImageSourceContext, "files" | "hasOutput">;
}

export class JobIntake {
  /** Submits under way per (owner, idempotency key). */
  private readonly submitting = new Map<string, Promise<Job>>();
  private readonly quota: OwnerQuota;

  constructor(
    private readonly store: JobStore,
    private readonly workflows: WorkflowStorage,
    private readonly scheduler: Scheduler,
    private readonly files: FileStore,
    private readonly opts: IntakeOptions,
    /** Called once the rows are committed (the project's own row first). */
    private readonly created: (rows: NewJob[]) => void,
    private readonly storage: StorageHealth,
  ) {
    this.quota = new OwnerQuota(store);
  }

  async submit(project: Project, key: string | undefined, submitter: Submitter, form: ManifestForm) {
    if (!key) return { job: await this.create(project, null, submitter, form), created: true };
    // Checked and claimed synchronously, so two concurrent submits with one key cannot both create a job.
    // Idempotency keys are per API key: another client's key must never return this client's job.
    const scoped = `${submitter.id ?? ""}\n${key}`;
    const inFlight = this.submitting.get(scoped);
    if (inFlight) return { job: await inFlight, created: false };
    const existing = this.byKey(key, submitter.id);
    if (existing) return { job: existing, created: false };
    const creating = this.create(project, key, submitter, form).then(
      (job) => ({ job, created: true }),
      (err: unknown) => {
        // Another replica committed this key first, while we prepared ours: its job is the answer.
        const job = err instanceof SubmittedElsewhere ? this.store.get(err.jobId) : null;
        if (job) return { job, created: false };
        throw err;
      },
    );
    const job = creating.then((r) => r.job);
    job.catch(() => undefined); // a failure is answered by the caller below; waiters hear it from `job`
    this.submitting.set(scoped, job);
    try {
      return await creating;
    } finally {
      this.submitting.delete(scoped);
    }
  }

  private byKey(key: string, owner: string | null): Job | null {
    const id = this.store.findByIdempotencyKey(key, owner, this.keySince());
    return id ? this.store.get(id) : null;
  }

  /** Keys older than the idempotency TTL may be used again. */
  private keySince(): string {
    return new Date(Date.now() - this.opts.idempotencyTtlH * 3_600_000).toISOString();
  }

  private async create(project: Project, key: string | null, s: Submitter, form: ManifestForm): Promise<Job> {
    const release = this.quota.reserve(s);
    try {
      return await this.createReserved(project, key, s, form);
    } finally {
      release();
    }
  }

  /**
   * What the insert must re-check when replicas share the database: the key is still unused and the owner
   * still under max_queued. On SQLite this process is the only writer and its own checks above suffice.
   */
  private guardFor(key: string | null, s: Submitter): InsertGuard | undefined {
    if (this.store.engine !== "postgres") return undefined;
    const quota = this.quota.guard(s);
    if (!key && !quota) return undefined;
    const owner = s.id;
    return {
      locks: [...(key ? [`idempotency:${owner ?? ""}\n${key}`] : []), ...(quota?.locks ?? [])],
      check: () => {
        if (key) {
          const id = this.store.findByIdempotencyKey(key, owner, this.keySince());
          if (id) throw new SubmittedElsewhere(id);
        }
        quota?.check();
      },
    };
  }

  private async createReserved(
    project: Project,
    key: string | null,
    submitter: Submitter,
    form: ManifestForm,
  ): Promise<Job> {
    const owner = submitter.id;
    const prepared = await prepareProject(
      project,
      {
        workflows: this.workflows,
        files: this.files,
        media: { ...this.opts.media, hasOutput: (id, name) => this.store.outputNames(id).includes(name) },
        defaults: { timeoutS: this.opts.jobTimeoutS, maxAttempts: this.opts.maxAttempts },
        assertCapable: (job) => this.scheduler.assertCapable(requirementsOf(job)),
      },
      form,
    );
    // The key belongs to the job the client sees; a project's own row never runs, so it joins no group.
    // Every row has the owner: its runs are served fairly by owner, its unfinished count is its own row's.
    const rows: NewJob[] = prepared.map((r, i) => ({
      ...r,
      idempotency_key: i === 0 ? key : null,
      owner,
      queue_key: r.project ? null : queueKey({ requirements: requirementsOf(r), options: {} }, { owner }),
    }));
    const seq = await this.store
      .insertSoon(rows, this.guardFor(key, submitter))
      .catch(async (err: unknown) => {
        // Not stored, so not accepted (a 503, or the guard's answer) and its files go.
        await Promise.all(rows.map((r) => this.files.remove("inputs", r.id).catch(() => undefined)));
        throw this.storage.toAppError(err) ?? err;
      });
    this.created(rows);
    const row = rows[0]!;
    return { ...row, seq, outputs: [], outputs_expired: false, updated_at: row.created_at };
  }
}

/** The insert found the key taken by a job another replica committed meanwhile. */
class SubmittedElsewhere extends Error {
  constructor(readonly jobId: string) {
    super(`idempotency key already used by job ${jobId}`);
  }
}
