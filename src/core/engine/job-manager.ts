// Owns every job from submit to its one terminal state. Jobs wait in SQLite; when a host has a free slot
// the scheduler picks it (late binding) and an Attempt runs there. Each transition is written before it is
// announced; an attempt's end (completed, failed, retry, cancelled) is decided here, in one place.
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { BackendMonitor } from "../../backends/monitor.js";
import type { PreviewFrame } from "../../backends/protocol.js";
import { AppError } from "../../errors.js";
import type { ImageSourceContext } from "../media/image-input.js";
import {
  isTerminal,
  type Job,
  type JobAttempt,
  type JobError,
  type JobStatus,
  type Project,
} from "../models.js";
import type { FileStore } from "../storage/file-store.js";
import type { JobListQuery, JobStore, NewJob } from "../storage/job-store.js";
import type { QueueHead } from "../storage/queue-index.js";
import type { StorageHealth } from "../storage/storage-health.js";
import type { WorkflowStorage } from "../storage/workflow-storage.js";
import { Attempt, type AttemptOutcome } from "./attempt.js";
import type { DispatchPlanner } from "./dispatch-planner.js";
import {
  byAge,
  byPriority,
  DispatchQueue,
  type GroupSpec,
  queueKey,
  STARTED,
  startedKey,
  startedProjectsFirst,
} from "./dispatch-queue.js";
import type { JobEvents } from "./events.js";
import { byLeastRecentService, ServiceLedger } from "./fair-share.js";
import { JobIntake } from "./job-intake.js";
import { LiveProgress } from "./live-progress.js";
import { NextPromptGate } from "./next-prompt-gate.js";
import { reapOrphans } from "./orphan-reaper.js";
import { ANONYMOUS, type Submitter } from "./owner-quota.js";
import type { ManifestForm } from "./project-preparation.js";
import { ProjectRunner } from "./project-runner.js";
import { recoverJobs } from "./recovery.js";
import { requirementsOf } from "./requirements.js";
import { exhaustedError, nextAttempt, refusedError } from "./retry-policy.js";
import { RunEvents } from "./run-events.js";
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
  private readonly active = new Map<string, { attempt: Attempt; done: Promise<void>; job: Job }>();
  /** Per job, hosts to avoid and VRAM to look for on its next attempt (lost on restart: only a preference). */
  private readonly hints = new Map<string, SelectOptions>();
  private readonly gate: NextPromptGate;
  private readonly queue: DispatchQueue;
  private readonly service = new ServiceLedger();
  private readonly progress: LiveProgress;
  private readonly intake: JobIntake;
  private readonly projects: ProjectRunner;
  private readonly say: RunEvents;
  /** Attempt ends whose writes failed while storage was unavailable, replayed when it recovers. */
  private readonly deferred: (() => void)[] = [];
  private tick: NodeJS.Timeout | null = null;
  private kickPending = false;
  private stopping = false;
  observer: EngineObserver = {};
  private readonly attached = new WeakSet<BackendMonitor>();

  constructor(
    private readonly store: JobStore,
    workflows: WorkflowStorage,
    private readonly scheduler: Scheduler,
    private readonly files: FileStore,
    readonly events: JobEvents,
    private readonly opts: JobManagerOptions,
    private readonly log: Logger,
    /** The expected-completion policy; without it, each job takes the least loaded host with room. */
    private readonly planner: DispatchPlanner | null = null,
  ) {
    this.progress = new LiveProgress(store, (err) => opts.storage.report(err));
    this.intake = new JobIntake(
      store,
      workflows,
      scheduler,
      files,
      opts,
      (rows) => this.created(rows),
      opts.storage,
    );
    // Fair share between owners first, then started projects' nodes before new projects' first nodes.
    const order = [byPriority, byLeastRecentService(this.service), startedProjectsFirst, byAge];
    this.queue = new DispatchQueue(
      store.queue,
      (head) => this.groupSpec(head),
      planner?.enabled ? planner.ordering(order) : order,
    );
    this.projects = new ProjectRunner(store, files);
    this.say = new RunEvents(events, (id) => this.projects.runs(id)?.runs ?? []);
    this.gate = new NextPromptGate(opts.nextPromptLeadMs, () => this.kick());
    scheduler.nextPromptGate = (backendId) => this.gate.isOpen(backendId);
  }

  /** Validates and persists a job; returns as soon as it is queued. A repeated idempotency key returns the first job. */
  async submit(
    project: Project,
    idempotencyKey?: string,
    submitter: Submitter = ANONYMOUS,
    form: ManifestForm = "manifest",
  ): Promise<{ job: Job; created: boolean }> {
    if (this.stopping) throw new AppError("SHUTTING_DOWN");
    this.opts.storage.assertWritable();
    return this.intake.submit(project, idempotencyKey ?? project.options.idempotency_key, submitter, form);
  }

  /** New rows are in the database: announce them and give idle hosts their work. */
  private created(rows: NewJob[]): void {
    const head = rows[0]!;
    const nodes = rows.length > 1 ? rows.length - 1 : undefined;
    this.log.info(
      { job_id: head.id, workflow_id: head.workflow_id, priority: head.priority, nodes },
      "job queued",
    );
    this.events.emit("job.queued", head.id, {
      workflow_id: head.project ? null : head.workflow_id,
      priority: head.priority,
    });
    for (const r of rows) if (r.queue_key) this.queue.joined(r.queue_key);
    for (const r of rows.slice(1)) {
      if (r.status === "queued")
        this.say.emit(r, "queued", { workflow_id: r.workflow_id, priority: r.priority });
    }
    // Now rather than via kick(): the insert already waited a turn, and an idle host should not wait another.
    if (!this.stopping) this.dispatch();
  }

  get(id: string): Job {
    const job = this.store.get(id);
    // A project's runs are reached through their project, never as jobs of their own.
    if (!job || job.project_id !== job.id)
      throw new AppError("JOB_NOT_FOUND", `Job "${id}" not found`, { job_id: id });
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
    this.log.info({ job_id: id, from: job.status }, "job cancelled");
    // A project's runs first: its own terminal event must be the last one its subscribers get.
    for (const run of job.nodes ?? [job]) this.cancelRun(run, error);
    if (job.nodes) this.say.project(id, "job.cancelled", { from: job.status });
    return this.get(id);
  }

  /** Waiting runs are skipped, queued ones cancelled, ones on a host stopped there. */
  private cancelRun(run: Job, error: JobError): void {
    if (run.id !== run.project_id) {
      const ended = { error, finished_at: now() };
      if (this.store.transition(run.id, ["waiting", "queued", "retrying"], "skipped", ended)) {
        this.say.emit(run, "skipped", { error });
        return;
      }
      if (!this.store.transition(run.id, ["dispatching", "running"], "cancelled", ended)) return;
    }
    this.hints.delete(run.id);
    this.say.emit(run, "cancelled", { from: run.status });
    this.active.get(run.id)?.attempt.stop("cancel");
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
    // A crash between a run's end and its project's next step left that step undone.
    for (const id of this.store.projects.open(100_000)) this.advance(id);
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
      if (job && !job.project && this.startAttempt(job, next.target)) this.service.served(job.owner);
    }
  }

  /** What the scheduler needs to place any job of `head`'s group (they all share it). */
  private groupSpec(head: QueueHead): GroupSpec | null {
    const needs = this.store.queue.needs(head.id);
    return needs && { requirements: requirementsOf(needs), options: this.hints.get(head.id) ?? {} };
  }

  /** Why a queued job waits, for GET /api/job/:id (null once it has left the queue). */
  waitingReason(job: Job) {
    if (!this.planner || job.status !== "queued" || job.project) return null;
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
    this.say.emit(job, "dispatched", { backend_id: m.id, attempt, prompt_id: promptId });
    if (
      job.project_id !== job.id &&
      this.store.transition(job.project_id, ["queued"], "running", { started_at: now() })
    ) {
      for (const k of this.store.projects.markStarted(job.project_id, STARTED)) this.queue.joined(k);
      this.say.project(job.project_id, "job.running", {
        backend_id: m.id,
        attempt,
        first_node: job.project_node,
      });
    }
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
          this.say.emit(job, "running", { backend_id: m.id, attempt: job.attempt });
        }
      },
      onProgress: (p) => {
        this.gate.progressed(attempt);
        this.progress.record(job.id, p);
        this.say.emit(job, "progress", { ...p });
      },
      onOutput: (o) => {
        this.store.addOutput(job.id, o);
        this.say.output(job, o);
      },
      onPromptId: (promptId) => this.store.setPromptId(job.id, job.attempt, promptId),
      // A project's run is followed (and previewed) under its project's id.
      previewMethod: () => this.say.previewMethod(job, this.opts.previews),
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
    this.active.set(job.id, { attempt, done, job });
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
          this.say.emit(job, "completed", {
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
    this.advance(job.project_id);
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
    this.say.emit(job, "failed", { error });
  }

  private retry(job: Job, backendId: string, outcome: Extract<AttemptOutcome, { kind: "retry" }>): void {
    if (job.attempt >= job.max_attempts) {
      this.store.endAttempt(job.id, job.attempt, outcome.error);
      this.fail(job, exhaustedError(job, outcome.error, this.store.attempts(job.id)));
      return;
    }
    const next = nextAttempt(job, backendId, outcome, this.hints.get(job.id), this.opts.retryBackoffS);
    const notBefore = next.notBefore;
    this.hints.set(job.id, next.hint);
    if (outcome.excludeBackend && this.refusedEverywhere(job, outcome.error, next.hint.exclude ?? new Set()))
      return;
    const done = this.store.transaction(() => {
      this.store.endAttempt(job.id, job.attempt, outcome.error);
      this.store.queue.setKey(job.id, next.queueKey);
      return this.store.transition(job.id, ["dispatching", "running"], "retrying", {
        not_before: notBefore,
        progress: null,
      });
    });
    if (!done) return;
    const retrying = { attempt: job.attempt, error: outcome.error, next_attempt_at: notBefore };
    this.log.warn({ job_id: job.id, backend_id: backendId, ...retrying }, "job will be retried");
    this.say.emit(job, "retrying", retrying);
  }

  /**
   * When every host that could run the job has refused it for a reason of its own (a model or node class it
   * lacks), waiting cannot help: the job fails now, with each host's refusal.
   */
  private refusedEverywhere(job: Job, error: JobError, refused: ReadonlySet<string>): boolean {
    if (this.scheduler.candidatesLeft(requirementsOf(job), refused).length > 0) return false;
    this.store.endAttempt(job.id, job.attempt, error);
    this.fail(job, refusedError(error, this.store.attempts(job.id), refused));
    return true;
  }

  /**
   * A multi-node project's next step after one of its runs ended (or after a restart): ready runs are
   * queued with their upstream outputs, runs that never can are skipped, and the project ends with its runs.
   */
  private advance(projectId: string): void {
    for (let round = 0; round < 64; round++) {
      const p = this.projects.runs(projectId);
      if (!p || isTerminal(p.head.status)) return;
      const step = this.projects.step(p.runs);
      for (const { run, inputs } of step.ready) {
        const needs = this.store.queue.needs(run.id);
        if (!needs) continue;
        const spec = { requirements: requirementsOf(needs), options: {} };
        const key = startedKey(queueKey(spec, { owner: run.owner }));
        this.store.queue.setKey(run.id, key); // only read once the run is queued, so no transaction needed
        if (!this.store.transition(run.id, ["waiting"], "queued", { inputs })) continue;
        this.queue.joined(key);
        this.say.emit(run, "queued", { workflow_id: run.workflow_id, priority: p.head.priority });
      }
      for (const { run, error } of step.unresolvable) {
        if (this.store.transition(run.id, ["waiting"], "failed", { error, finished_at: now() }))
          this.say.emit(run, "failed", { error });
      }
      for (const { run, error } of step.skipped) {
        if (this.store.transition(run.id, ["waiting"], "skipped", { error, finished_at: now() }))
          this.say.emit(run, "skipped", { error });
      }
      if (step.end) {
        this.endProject(projectId, p.head.status, step.end);
        return;
      }
      if (step.unresolvable.length + step.skipped.length === 0) break;
    }
    this.kick();
  }

  private endProject(id: string, from: JobStatus, end: { status: JobStatus; error: JobError | null }): void {
    const completed = end.status === "completed";
    const patch = {
      error: end.error,
      finished_at: now(),
      ...(completed ? { progress: FINAL_PROGRESS } : {}),
    };
    if (!this.store.transition(id, [from], end.status, patch)) return;
    this.log.info({ job_id: id, status: end.status }, `project ${end.status}`);
    if (completed)
      this.say.project(id, "job.completed", {
        outputs: this.store.get(id)?.outputs.map((o) => o.filename) ?? [],
        progress: FINAL_PROGRESS,
      });
    else if (end.status === "failed") this.say.project(id, "job.failed", { error: end.error });
    else this.say.project(id, "job.cancelled", { from });
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
        this.say.emit(job, "queued", {
          workflow_id: job.workflow_id,
          priority: job.priority,
          attempt: job.attempt + 1,
        });
      }
    }
    const cutoff = new Date(Date.now() - this.opts.queueTimeoutS * 1000).toISOString();
    for (const id of this.store.queuedBefore(cutoff, 256)) {
      const job = this.store.get(id);
      if (!job) continue;
      this.fail(job, {
        code: "QUEUE_TIMEOUT",
        message: `no backend took the job within ${this.opts.queueTimeoutS} s`,
      });
      this.advance(job.project_id);
    }
    this.kick();
  }

  private forwardPreview(promptId: string | null, frame: PreviewFrame): void {
    if (!promptId) return;
    const a = [...this.active.values()].find((x) => x.attempt.prompt === promptId);
    if (a) this.say.preview(a.job, frame);
  }
}

const now = () => new Date().toISOString();

/** What the engine reports to outside observers (metrics), without knowing who listens. */
export interface EngineObserver {
  /** `seconds`: from the host's slot being free for the job (slot freed or job queued, the later) to the host accepting the prompt. */
  promptSent?(backendId: string, seconds: number): void;
}
