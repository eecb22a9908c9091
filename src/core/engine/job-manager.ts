// Owns every job from submit to its one terminal state. Jobs wait in SQLite; when a host has a free slot
// the scheduler picks it (late binding) and an Attempt runs there. Each transition is written before it is
// announced; an attempt's end (completed, failed, retry, cancelled) is decided here, in one place.
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { BackendMonitor } from "../../backends/monitor.js";
import type { PreviewFrame } from "../../backends/protocol.js";
import { AppError } from "../../errors.js";
import type { ImageSourceContext } from "../media/image-input.js";
import { isTerminal, type Job, type JobAttempt, type JobError, type Project } from "../models.js";
import type { FileStore } from "../storage/file-store.js";
import type { JobListQuery, JobStore } from "../storage/job-store.js";
import type { QueueHead } from "../storage/queue-index.js";
import type { StorageHealth } from "../storage/storage-health.js";
import type { WorkflowStorage } from "../storage/workflow-storage.js";
import { Attempt, type AttemptOutcome } from "./attempt.js";
import type { DispatchPlanner } from "./dispatch-planner.js";
import { byAge, byPriority, DispatchQueue, type GroupSpec, queueKey } from "./dispatch-queue.js";
import type { JobEvents } from "./events.js";
import { byLeastRecentService, ServiceLedger } from "./fair-share.js";
import { prepareJob } from "./job-preparation.js";
import { LiveProgress } from "./live-progress.js";
import { NextPromptGate } from "./next-prompt-gate.js";
import { reapOrphans } from "./orphan-reaper.js";
import { ANONYMOUS, OwnerQuota, type Submitter } from "./owner-quota.js";
import { recoverJobs } from "./recovery.js";
import { requirementsOf } from "./requirements.js";
import type { Scheduler, SelectOptions } from "./scheduler.js";

export interface JobManagerOptions {
  instanceId: string;
  jobTimeoutS: number;
  maxAttempts: number;
  retryBackoffS: number;
  recoveryGraceS: number;
  silenceCheckS: number;
  queueTimeoutS: number;
  idempotencyTtlH: number;
  /** How close to its end a host's running prompt must be before the host gets its next one (0: at once). */
  nextPromptLeadMs: number;
  /** When to ask hosts for live previews (extra_data.preview_method), and with which method. */
  previews?: { request: "when_subscribed" | "always" | "never"; method: string };
  media: Omit<ImageSourceContext, "files" | "hasOutput">;
  /** Whether the database takes writes; while it does not, work that must write waits for its recovery. */
  storage: StorageHealth;
}

/** Bounds one dispatch call: each round starts a job or drops a stale group head. */
const DISPATCH_ROUNDS = 10_000;
const TICK_MS = 250;
const FINAL_PROGRESS = { value: 1, max: 1, node_id: null, node_title: null, percent: 100 };

export class JobManager {
  private readonly active = new Map<string, { attempt: Attempt; done: Promise<void> }>();
  /** Per job, hosts to avoid and VRAM to look for on its next attempt (lost on restart: only a preference). */
  private readonly hints = new Map<string, SelectOptions>();
  private readonly gate: NextPromptGate;
  private readonly queue: DispatchQueue;
  private readonly service = new ServiceLedger();
  private readonly progress: LiveProgress;
  /** Submits under way per idempotency key. */
  private readonly submitting = new Map<string, Promise<Job>>();
  private readonly quota: OwnerQuota;
  /** Attempt ends whose writes failed while storage was unavailable, replayed when it recovers. */
  private readonly deferred: (() => void)[] = [];
  private tick: NodeJS.Timeout | null = null;
  private kickPending = false;
  private stopping = false;
  observer: EngineObserver = {};
  private readonly attached = new WeakSet<BackendMonitor>();

  constructor(
    private readonly store: JobStore,
    private readonly workflows: WorkflowStorage,
    private readonly scheduler: Scheduler,
    private readonly files: FileStore,
    readonly events: JobEvents,
    private readonly opts: JobManagerOptions,
    private readonly log: Logger,
    /** The expected-completion policy; without it, each job takes the least loaded host with room. */
    private readonly planner: DispatchPlanner | null = null,
  ) {
    this.progress = new LiveProgress(store, (err) => opts.storage.report(err));
    const order = [byPriority, byLeastRecentService(this.service), byAge];
    this.queue = new DispatchQueue(
      store.queue,
      (head) => this.groupSpec(head),
      planner?.enabled ? planner.ordering(order) : order,
    );
    this.quota = new OwnerQuota(store);
    this.gate = new NextPromptGate(opts.nextPromptLeadMs, () => this.kick());
    scheduler.nextPromptGate = (backendId) => this.gate.isOpen(backendId);
  }

  /** Validates and persists a job; returns as soon as it is queued. A repeated idempotency key returns the first job. */
  async submit(
    project: Project,
    idempotencyKey?: string,
    submitter: Submitter = ANONYMOUS,
  ): Promise<{ job: Job; created: boolean }> {
    if (this.stopping) throw new AppError("SHUTTING_DOWN");
    this.opts.storage.assertWritable();
    const key = idempotencyKey ?? project.options.idempotency_key;
    if (!key) return { job: await this.create(project, null, submitter), created: true };
    // Checked and claimed synchronously, so two concurrent submits with one key cannot both create a job.
    // Idempotency keys are per API key: another client's key must never return this client's job.
    const scoped = `${submitter.id ?? ""}\n${key}`;
    const inFlight = this.submitting.get(scoped);
    if (inFlight) return { job: await inFlight, created: false };
    const existing = this.byKey(key, submitter.id);
    if (existing) return { job: existing, created: false };
    const creating = this.create(project, key, submitter);
    this.submitting.set(scoped, creating);
    try {
      return { job: await creating, created: true };
    } finally {
      this.submitting.delete(scoped);
    }
  }

  private async create(project: Project, key: string | null, submitter: Submitter): Promise<Job> {
    const release = this.quota.reserve(submitter);
    try {
      return await this.createReserved(project, key, submitter.id);
    } finally {
      release();
    }
  }

  private async createReserved(project: Project, key: string | null, owner: string | null): Promise<Job> {
    const prepared = await prepareJob(project, {
      workflows: this.workflows,
      files: this.files,
      media: { ...this.opts.media, hasOutput: (id, name) => this.store.outputNames(id).includes(name) },
      defaults: { timeoutS: this.opts.jobTimeoutS, maxAttempts: this.opts.maxAttempts },
      assertCapable: (job) => this.scheduler.assertCapable(requirementsOf(job)),
    });
    const queue_key = queueKey({ requirements: requirementsOf(prepared), options: {} }, { owner });
    const row = { ...prepared, idempotency_key: key, owner };
    const seq = await this.store.insertSoon({ ...row, queue_key }).catch(async (err: unknown) => {
      // Not stored, so not accepted: the client hears 503 and its files go.
      await this.files.remove("inputs", row.id).catch(() => undefined);
      throw this.opts.storage.toAppError(err) ?? err;
    });
    this.queue.joined(queue_key);
    this.log.info({ job_id: row.id, workflow_id: row.workflow_id, priority: row.priority }, "job queued");
    this.events.emit("job.queued", row.id, { workflow_id: row.workflow_id, priority: row.priority });
    // Now rather than via kick(): the insert already waited a turn, and an idle host should not wait another.
    if (!this.stopping) this.dispatch();
    return { ...row, seq, outputs: [], outputs_expired: false, updated_at: row.created_at };
  }

  get(id: string): Job {
    const job = this.store.get(id);
    if (!job) throw new AppError("JOB_NOT_FOUND", `Job "${id}" not found`, { job_id: id });
    return this.progress.overlay(job);
  }

  attempts(id: string): JobAttempt[] {
    return this.store.attempts(id);
  }

  list(q: JobListQuery) {
    const page = this.store.list(q);
    return { ...page, jobs: page.jobs.map((j) => this.progress.overlay(j)) };
  }

  counts() {
    return this.store.counts();
  }

  /** Queued jobs end at once; a job on a host is removed from its queue or interrupted. Repeats are harmless. */
  cancel(id: string): Job {
    const job = this.get(id);
    if (job.status === "cancelled") return job;
    if (isTerminal(job.status)) {
      throw new AppError("JOB_FINISHED", `Job "${id}" already ended ${job.status}`, {
        job_id: id,
        status: job.status,
      });
    }
    const error: JobError = { code: "CANCELLED", message: "cancelled by request" };
    if (
      !this.store.transition(id, ["queued", "retrying", "dispatching", "running"], "cancelled", {
        error,
        finished_at: now(),
      })
    ) {
      return this.cancel(id); // it moved meanwhile: decide again on its new state
    }
    this.hints.delete(id);
    this.log.info({ job_id: id, from: job.status }, "job cancelled");
    this.events.emit("job.cancelled", id, { from: job.status });
    this.active.get(id)?.attempt.stop("cancel");
    return this.get(id);
  }

  /** Follows a host's events; hosts added while running are attached as they join. Repeats are harmless. */
  attach(m: BackendMonitor): void {
    if (this.attached.has(m)) return;
    this.attached.add(m);
    m.on("state", (state) => state === "online" && this.kick());
    m.on("polled", () => {
      reapOrphans(m, this.store, this.log);
      this.kick();
    });
    m.on("preview", (promptId, frame) => this.forwardPreview(promptId, frame));
    m.on("slot-freed", () => this.kick());
  }

  /** Starts dispatching, after re-attaching to every job a previous process left on a host. */
  start(): void {
    for (const m of this.scheduler.all()) this.attach(m);
    this.queue.load();
    this.opts.storage.on("recovered", () => {
      for (const replay of this.deferred.splice(0)) replay();
      this.kick();
    });
    recoverJobs(this.store, this.scheduler, {
      resume: (job, m, deadline) => this.run(job, m, true, deadline),
      requeue: (job, error) => this.retry(job, job.backend_id ?? "", { kind: "retry", error }),
    });
    this.tick = setInterval(() => this.onTick(), TICK_MS);
    this.tick.unref();
    this.kick();
  }

  /** Stops taking work; prompts stay on their hosts and the next start re-attaches to them. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.tick) clearInterval(this.tick);
    const pending = [...this.active.values()];
    for (const a of pending) a.attempt.stop("shutdown");
    await Promise.all(pending.map((a) => a.done));
  }

  kick(): void {
    if (this.kickPending || this.stopping) return;
    this.kickPending = true;
    setImmediate(() => {
      this.kickPending = false;
      this.dispatch();
    });
  }

  private byKey(key: string, owner: string | null): Job | null {
    const since = new Date(Date.now() - this.opts.idempotencyTtlH * 3_600_000).toISOString();
    const id = this.store.findByIdempotencyKey(key, owner, since);
    return id ? this.store.get(id) : null;
  }

  private dispatch(): void {
    if (!this.opts.storage.ok) return;
    try {
      this.dispatchFree();
    } catch (err) {
      if (!this.opts.storage.report(err)) throw err;
    }
  }

  private dispatchFree(): void {
    const planner = this.planner?.enabled ? this.planner : null;
    for (let round = 0; round < DISPATCH_ROUNDS && !this.stopping && this.scheduler.hasFreeSlot(); round++) {
      planner?.beginRound();
      const next = this.queue.next((g) =>
        planner ? planner.place(g) : this.scheduler.select(g.requirements, g.options),
      );
      if (!next) return;
      this.queue.taken(next.group.key);
      const job = this.store.get(next.group.head.id);
      if (job && this.startAttempt(job, next.target)) this.service.served(job.owner);
    }
  }

  /** What the scheduler needs to place any job of `head`'s group (they all share it). */
  private groupSpec(head: QueueHead): GroupSpec | null {
    const needs = this.store.queue.needs(head.id);
    return needs && { requirements: requirementsOf(needs), options: this.hints.get(head.id) ?? {} };
  }

  /** Why a queued job waits, for GET /api/job/:id (null once it has left the queue). */
  waitingReason(job: Job) {
    if (!this.planner || job.status !== "queued") return null;
    return this.planner.explain(job, requirementsOf(job), this.hints.get(job.id));
  }

  /** What a host has warm and how fast it has been, for /api/backends. */
  hostModel(backendId: string): Record<string, unknown> {
    return this.planner?.describe(backendId) ?? {};
  }

  private startAttempt(job: Job, m: BackendMonitor): boolean {
    const attempt = job.attempt + 1;
    const promptId = randomUUID();
    const ok = this.store.transaction(() => {
      if (
        !this.store.transition(job.id, ["queued"], "dispatching", {
          backend_id: m.id,
          prompt_id: promptId,
          attempt,
          progress: null,
        })
      ) {
        return false;
      }
      this.store.startAttempt(job.id, attempt, m.id, promptId);
      return true;
    });
    if (!ok) return false;
    this.scheduler.acquire(m.id, job.id);
    this.log.info({ job_id: job.id, backend_id: m.id, prompt_id: promptId, attempt }, "job dispatched");
    this.events.emit("job.dispatched", job.id, { backend_id: m.id, attempt, prompt_id: promptId });
    const running = {
      ...job,
      status: "dispatching" as const,
      backend_id: m.id,
      prompt_id: promptId,
      attempt,
    };
    const readyAt = Math.max(this.scheduler.slotFreedAt(m.id), Date.parse(job.updated_at) || 0);
    this.run(running, m, false, Date.now() + job.timeout_s * 1000, readyAt);
    return true;
  }

  private run(job: Job, m: BackendMonitor, resume: boolean, deadline: number, readyAt?: number): void {
    const started = Date.now();
    this.planner?.started(job, m);
    const attempt = new Attempt(job, m, deadline, {
      instanceId: this.opts.instanceId,
      files: this.files,
      log: this.log,
      silenceCheckMs: this.opts.silenceCheckS * 1000,
      graceMs: this.opts.recoveryGraceS * 1000,
      onRunning: () => {
        this.gate.started(attempt);
        if (this.store.transition(job.id, ["dispatching"], "running", { started_at: now() })) {
          this.log.info({ job_id: job.id, backend_id: m.id, prompt_id: attempt.prompt }, "job running");
          this.events.emit("job.running", job.id, { backend_id: m.id, attempt: job.attempt });
        }
      },
      onProgress: (p) => {
        this.gate.progressed(attempt);
        this.progress.record(job.id, p);
        this.events.emit("job.progress", job.id, { ...p });
      },
      onOutput: (o) => {
        this.store.addOutput(job.id, o);
        this.events.emit("job.output", job.id, {
          filename: o.filename,
          node_id: o.node_id,
          kind: o.kind,
          content_type: o.content_type,
          size: o.size,
        });
      },
      onPromptId: (promptId) => this.store.setPromptId(job.id, job.attempt, promptId),
      previewMethod: () => this.previewMethod(job.id),
      onPromptSent: () => {
        if (readyAt !== undefined) this.observer.promptSent?.(m.id, (Date.now() - readyAt) / 1000);
      },
    });
    const done = attempt
      .run(resume)
      .catch((err: Error): AttemptOutcome => {
        this.log.error({ job_id: job.id, err }, "attempt crashed");
        return { kind: "retry", error: { code: "INTERNAL", message: err.message } };
      })
      .then((outcome) => {
        this.gate.ended(attempt, outcome.kind === "completed" ? attempt.runningForMs : null);
        this.settleOrDefer(job, m, outcome, (Date.now() - started) / 1000);
      })
      .catch((err) => this.log.error({ job_id: job.id, err }, "could not record an attempt's end"));
    this.active.set(job.id, { attempt, done });
  }

  /** Every step of settle() may run twice (its writes are compare-and-set), so a failed one is replayed. */
  private settleOrDefer(job: Job, m: BackendMonitor, outcome: AttemptOutcome, seconds: number): void {
    try {
      this.settle(job, m, outcome, seconds);
    } catch (err) {
      if (!this.opts.storage.report(err)) throw err;
      this.log.warn(
        { job_id: job.id, outcome: outcome.kind },
        "attempt end kept until the database recovers",
      );
      this.deferred.push(() => this.settleOrDefer(job, m, outcome, seconds));
    }
  }

  private settle(job: Job, m: BackendMonitor, outcome: AttemptOutcome, seconds: number): void {
    this.active.delete(job.id);
    this.progress.forget(job.id);
    this.planner?.ended(job.id, m.id);
    this.scheduler.release(
      m.id,
      job.id,
      outcome.kind === "detached" ? undefined : { ok: outcome.kind === "completed", seconds },
    );
    const live = ["dispatching", "running"] as const;
    const fields = { job_id: job.id, backend_id: m.id, attempt: job.attempt };
    switch (outcome.kind) {
      case "detached":
        return;
      case "cancelled":
        this.store.endAttempt(job.id, job.attempt, { code: "CANCELLED", message: "cancelled by request" });
        break;
      case "completed": {
        const done = this.store.transaction(() => {
          this.store.endAttempt(job.id, job.attempt, null);
          return this.store.transition(job.id, live, "completed", {
            finished_at: now(),
            progress: FINAL_PROGRESS,
          });
        });
        if (done) {
          this.hints.delete(job.id);
          this.log.info({ ...fields, seconds }, "job completed");
          // The final progress rides on the event so a client's bar ends at exactly 100 without another read.
          this.events.emit("job.completed", job.id, {
            backend_id: m.id,
            outputs: this.store.outputNames(job.id),
            progress: FINAL_PROGRESS,
          });
        }
        break;
      }
      case "failed":
        this.fail(job, outcome.error);
        break;
      case "retry":
        this.retry(job, m.id, outcome);
        break;
    }
    this.kick();
  }

  private fail(job: Job, error: JobError): void {
    const done = this.store.transaction(() => {
      this.store.endAttempt(job.id, job.attempt, error);
      return this.store.transition(job.id, ["queued", "retrying", "dispatching", "running"], "failed", {
        error,
        finished_at: now(),
      });
    });
    if (!done) return;
    this.hints.delete(job.id);
    this.log.warn({ job_id: job.id, backend_id: job.backend_id, error }, "job failed");
    this.events.emit("job.failed", job.id, { error });
  }

  private retry(job: Job, backendId: string, outcome: Extract<AttemptOutcome, { kind: "retry" }>): void {
    if (job.attempt >= job.max_attempts) {
      this.store.endAttempt(job.id, job.attempt, outcome.error);
      const attempts = this.store
        .attempts(job.id)
        .map((a) => ({ attempt: a.attempt, backend_id: a.backend_id, error: a.error }));
      this.fail(job, {
        code: "ATTEMPTS_EXHAUSTED",
        message: `failed ${job.attempt} attempt(s); last: ${outcome.error.message}`,
        details: { attempts },
      });
      return;
    }
    const hint = this.hints.get(job.id) ?? {};
    if (outcome.excludeBackend) hint.exclude = new Set([...(hint.exclude ?? []), backendId]);
    if (outcome.excludeBackend && this.refusedEverywhere(job, outcome.error, hint.exclude ?? new Set()))
      return;
    if (outcome.minFreeVramBytes !== undefined) hint.minFreeVramBytes = outcome.minFreeVramBytes;
    this.hints.set(job.id, hint);
    // Exponential backoff with jitter; a host that just died should not get the job straight back.
    const delay = this.opts.retryBackoffS * 1000 * 2 ** (job.attempt - 1) * (0.75 + Math.random() * 0.5);
    const notBefore = new Date(Date.now() + Math.min(delay, 60_000)).toISOString();
    // A hint changes where the job may go, so the job moves to the group of jobs with the same hint.
    const key = queueKey({ requirements: requirementsOf(job), options: hint }, { owner: job.owner });
    const done = this.store.transaction(() => {
      this.store.endAttempt(job.id, job.attempt, outcome.error);
      this.store.queue.setKey(job.id, key);
      return this.store.transition(job.id, ["dispatching", "running"], "retrying", {
        not_before: notBefore,
        progress: null,
      });
    });
    if (!done) return;
    this.log.warn(
      {
        job_id: job.id,
        backend_id: backendId,
        attempt: job.attempt,
        error: outcome.error,
        next_attempt_at: notBefore,
      },
      "job will be retried",
    );
    this.events.emit("job.retrying", job.id, {
      attempt: job.attempt,
      error: outcome.error,
      next_attempt_at: notBefore,
    });
  }

  /**
   * When every host that could run the job has refused it for a reason of its own (a model or node class it
   * lacks), waiting cannot help: the job fails now, with each host's refusal.
   */
  private refusedEverywhere(job: Job, error: JobError, refused: ReadonlySet<string>): boolean {
    if (this.scheduler.candidatesLeft(requirementsOf(job), refused).length > 0) return false;
    this.store.endAttempt(job.id, job.attempt, error);
    const refusals = this.store
      .attempts(job.id)
      .filter((a) => a.error && refused.has(a.backend_id))
      .map((a) => ({ attempt: a.attempt, backend_id: a.backend_id, error: a.error }));
    const hosts = [...new Set(refusals.map((r) => r.backend_id))];
    this.fail(job, {
      code: "REJECTED_BY_ALL_BACKENDS",
      message: `every backend that could run the job refused it (${hosts.join(", ")}); last: ${error.message}`,
      details: { refusals },
    });
    return true;
  }

  private previewMethod(jobId: string): string | null {
    const p = this.opts.previews ?? { request: "when_subscribed", method: "auto" };
    if (p.request === "never") return null;
    return p.request === "always" || this.events.previewInterest(jobId) ? p.method : null;
  }

  private onTick(): void {
    if (!this.opts.storage.ok) return;
    try {
      this.promoteAndExpire();
    } catch (err) {
      if (!this.opts.storage.report(err)) throw err;
    }
  }

  private promoteAndExpire(): void {
    const nowIso = now();
    for (const job of this.store.withStatus("retrying", 256)) {
      if (job.not_before && job.not_before > nowIso) continue;
      if (this.store.transition(job.id, ["retrying"], "queued", { not_before: null })) {
        this.queue.joined(this.store.queue.keyOf(job.id) ?? "");
        this.events.emit("job.queued", job.id, {
          workflow_id: job.workflow_id,
          priority: job.priority,
          attempt: job.attempt + 1,
        });
      }
    }
    const cutoff = new Date(Date.now() - this.opts.queueTimeoutS * 1000).toISOString();
    for (const id of this.store.queuedBefore(cutoff, 256)) {
      const job = this.store.get(id);
      if (job)
        this.fail(job, {
          code: "QUEUE_TIMEOUT",
          message: `no backend took the job within ${this.opts.queueTimeoutS} s`,
        });
    }
    this.kick();
  }

  private forwardPreview(promptId: string | null, frame: PreviewFrame): void {
    if (!promptId) return;
    for (const [jobId, a] of this.active) {
      if (a.attempt.prompt === promptId) {
        this.events.emitPreview({ job_id: jobId, format: frame.format, image: frame.image });
        return;
      }
    }
  }
}

const now = () => new Date().toISOString();

/** What the engine reports to outside observers (metrics), without knowing who listens. */
export interface EngineObserver {
  /** `seconds`: from the host's slot being free for the job (slot freed or job queued, the later) to the host accepting the prompt. */
  promptSent?(backendId: string, seconds: number): void;
}
