// Turns a submitted Project into queued rows: idempotency (a repeated key returns the first job, even while
// that one is still being written), preparation (every check and stored input), then one group-committed
// insert. What happens to the rows after that is the JobManager's.
import type { ImageSourceContext } from "../media/image-input.js";
import type { Job, Project } from "../models.js";
import type { FileStore } from "../storage/file-store.js";
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
    const creating = this.create(project, key, submitter, form);
    this.submitting.set(scoped, creating);
    try {
      return { job: await creating, created: true };
    } finally {
      this.submitting.delete(scoped);
    }
  }

  private byKey(key: string, owner: string | null): Job | null {
    const since = new Date(Date.now() - this.opts.idempotencyTtlH * 3_600_000).toISOString();
    const id = this.store.findByIdempotencyKey(key, owner, since);
    return id ? this.store.get(id) : null;
  }

  private async create(project: Project, key: string | null, s: Submitter, form: ManifestForm): Promise<Job> {
    const release = this.quota.reserve(s);
    try {
      return await this.createReserved(project, key, s.id, form);
    } finally {
      release();
    }
  }

  private async createReserved(
    project: Project,
    key: string | null,
    owner: string | null,
    form: ManifestForm,
  ): Promise<Job> {
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
    const seq = await this.store.insertSoon(rows).catch(async (err: unknown) => {
      // Not stored, so not accepted: the client hears 503 and its files go.
      await Promise.all(rows.map((r) => this.files.remove("inputs", r.id).catch(() => undefined)));
      throw this.storage.toAppError(err) ?? err;
    });
    this.created(rows);
    const row = rows[0]!;
    return { ...row, seq, outputs: [], outputs_expired: false, updated_at: row.created_at };
  }
}
