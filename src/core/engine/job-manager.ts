// Owns every job from submit to its one terminal state. Jobs wait in SQLite; when a host has a free slot
// the scheduler picks it (late binding) and an Attempt runs there. Each transition is written before it is
// announced; every change of state is made here or by the collaborators this class alone builds and calls
// (AttemptRunner for attempts' ends, ProjectAdvancer for projects' steps, TickClock for retries and expiry).
import type { Logger } from "pino";
import type { BackendMonitor } from "../../backends/monitor.js";
import type { PreviewFrame } from "../../backends/protocol.js";
import { AppError } from "../../errors.js";
import type { ImageSourceContext } from "../media/image-input.js";
import { isTerminal, type Job, type JobAttempt, type JobError, type Project } from "../models.js";
import type { FileStore } from "../storage/file-store.js";
import type { JobListQuery, JobStore, NewJob } from "../storage/job-store.js";
import type { QueueHead } from "../storage/queue-index.js";
import type { StorageHealth } from "../storage/storage-health.js";
import type { WorkflowStorage } from "../storage/workflow-storage.js";
import { AttemptRunner } from "./attempt-runner.js";
import type { DispatchPlanner } from "./dispatch-planner.js";
import { byAge, byPriority, DispatchQueue, type GroupSpec, startedProjectsFirst } from "./dispatch-queue.js";
import type { JobEvents } from "./events.js";
import { byLeastRecentService, ServiceLedger } from "./fair-share.js";
import { JobIntake } from "./job-intake.js";
import { LiveProgress } from "./live-progress.js";
import { NextPromptGate } from "./next-prompt-gate.js";
import { reapOrphans } from "./orphan-reaper.js";
import { ANONYMOUS, type Submitter } from "./owner-quota.js";
import { ProjectAdvancer } from "./project-advancer.js";
import type { ManifestForm } from "./project-preparation.js";
import { ProjectRunner } from "./project-runner.js";
import { type RecoveryActions, recoverHost, requeueStranded } from "./recovery.js";
import { requirementsOf } from "./requirements.js";
import { RunEvents } from "./run-events.js";
import type { Scheduler } from "./scheduler.js";
import { TickClock } from "./tick-clock.js";

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
  /**
   * With replicas: whether this one still drives the host, asked in the transaction of each dispatch and
   * before an attempt's end is written (false: the write is left to the host's new driver).
   */
  holdsHost?: (backendId: string) => boolean;
  /** Whether the database takes writes; while it does not, work that must write waits for its recovery. */
  storage: StorageHealth;
}

/** Bounds one dispatch call: each round starts a job or drops a stale group head. */
const DISPATCH_ROUNDS = 10_000;

export class JobManager {
  private readonly gate: NextPromptGate;
  private readonly queue: DispatchQueue;
  private readonly service = new ServiceLedger();
  private readonly progress: LiveProgress;
  private readonly intake: JobIntake;
  private readonly projects: ProjectRunner;
  private readonly say: RunEvents;
  private readonly advancer: ProjectAdvancer;
  private readonly runner: AttemptRunner;
  private readonly clock: TickClock;
  private kickPending = false;
  private stopping = false;
  observer: EngineObserver = {};
  private readonly attached = new WeakSet<BackendMonitor>();

  constructor(
    private readonly store: JobStore,
    workflows: WorkflowStorage,
    private readonly scheduler: Scheduler,
    files: FileStore,
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
    const kick = () => this.kick();
    this.advancer = new ProjectAdvancer(store, this.projects, this.queue, this.say, log, kick);
    const advance = (projectId: string) => this.advancer.advance(projectId);
    this.runner = new AttemptRunner({
      store,
      scheduler,
      files,
      opts,
      log,
      planner,
      queue: this.queue,
      gate: this.gate,
      progress: this.progress,
      say: this.say,
      observer: () => this.observer,
      advance,
      kick,
    });
    this.clock = new TickClock({
      store,
      queue: this.queue,
      say: this.say,
      storage: opts.storage,
      queueTimeoutS: opts.queueTimeoutS,
      // Only while still queued: another replica may claim the job between the clock's read and this write.
      fail: (job, error) => this.runner.fail(job, error, ["queued"]),
      advance,
      kick,
    });
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
    this.runner.forgetHint(run.id);
    this.say.emit(run, "cancelled", { from: run.status });
    this.runner.stop(run.id, "cancel");
  }

  /** Follows a host's events; hosts added while running are attached as they join. Repeats are harmless. */
  attach(m: BackendMonitor): void {
    if (this.attached.has(m)) return;
    this.attached.add(m);
    m.on("state", (state) => state === "online" && this.kick());
    m.on("polled", () => {
      // Only the host's driver: another replica's prompts there are not orphans, however they look from here.
      if (this.scheduler.drives(m.id)) reapOrphans(m, this.store, this.log);
      this.kick();
    });
    m.on("preview", (promptId, frame) => this.forwardPreview(promptId, frame));
    m.on("slot-freed", () => this.kick());
  }

  /**
   * Starts dispatching, after re-attaching to every job a previous process left on the hosts this one drives
   * (with replicas, hosts whose lease it takes later are recovered then: hostAcquired).
   */
  start(mayRequeue: (backendId: string) => boolean = () => true): void {
    for (const m of this.scheduler.all()) this.attach(m);
    this.queue.load();
    this.opts.storage.on("recovered", () => {
      this.runner.replayDeferred();
      this.kick();
    });
    for (const m of this.scheduler.all()) {
      if (this.scheduler.drives(m.id)) recoverHost(this.store, this.scheduler, m, this.recovery);
    }
    requeueStranded(this.store, this.scheduler, this.recovery, mayRequeue);
    // A crash between a run's end and its project's next step left that step undone.
    for (const id of this.store.projects.open(100_000)) this.advancer.advance(id);
    this.clock.start();
    this.kick();
  }

  private readonly recovery: RecoveryActions = {
    resume: (job, m, deadline) => this.runner.run(job, m, true, deadline),
    requeue: (job, error) => this.runner.retry(job, job.backend_id ?? "", { kind: "retry", error }),
    following: (jobId) => this.runner.follows(jobId),
  };

  /**
   * With replicas: stops the attempts here whose job another replica cancelled (it could not reach the
   * prompt, which only the host's driver follows). Asked every lease round: one status read per attempt.
   */
  stopCancelledElsewhere(): void {
    for (const id of this.runner.activeJobIds()) {
      if (this.store.statusOf(id) === "cancelled") this.runner.stop(id, "cancel");
    }
  }

  /** This replica now drives `m` (its lease was taken over): follow the prompts its last driver left there. */
  hostAcquired(m: BackendMonitor): void {
    if (this.stopping) return;
    recoverHost(this.store, this.scheduler, m, this.recovery);
    this.kick();
  }

  /**
   * Another replica drives the host now (or may at any moment): stop following its prompts as a shutdown
   * does, leaving their jobs dispatching or running for the new driver to re-attach to.
   */
  hostLost(backendId: string): void {
    this.runner.detachHost(backendId);
  }

  /** Stops taking work; prompts stay on their hosts and the next start re-attaches to them. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.clock.stop();
    await this.runner.stopAll();
  }

  /** Links this replica's queue to the others' on one database: `announce` hears every key that gains work. */
  shareQueue(announce: (key: string) => void): void {
    this.queue.announce = announce;
  }

  /**
   * Another replica queued work under `key` (null: it may have, re-read the groups, leaving heads younger
   * than `settleMs` to their announcements): dispatch it if we can.
   */
  queuedElsewhere(key: string | null, settleMs = 0): void {
    if (this.stopping) return;
    if (key !== null) this.queue.heard(key);
    else if (this.opts.storage.ok) {
      try {
        this.queue.reload(settleMs);
      } catch (err) {
        if (!this.opts.storage.report(err)) throw err;
      }
    }
    this.kick();
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
      if (job && !job.project && this.runner.startAttempt(job, next.target)) this.service.served(job.owner);
    }
  }

  /** What the scheduler needs to place any job of `head`'s group (they all share it). */
  private groupSpec(head: QueueHead): GroupSpec | null {
    const needs = this.store.queue.needs(head.id);
    return needs && { requirements: requirementsOf(needs), options: this.runner.hint(head.id) ?? {} };
  }

  /** Why a queued job waits, for GET /api/job/:id (null once it has left the queue). */
  waitingReason(job: Job) {
    if (!this.planner || job.status !== "queued" || job.project) return null;
    return this.planner.explain(job, requirementsOf(job), this.runner.hint(job.id));
  }

  /** What a host has warm and how fast it has been, for /api/backends. */
  hostModel(backendId: string): Record<string, unknown> {
    return this.planner?.describe(backendId) ?? {};
  }

  private forwardPreview(promptId: string | null, frame: PreviewFrame): void {
    if (!promptId) return;
    const job = this.runner.jobOfPrompt(promptId);
    if (job) this.say.preview(job, frame);
  }
}

const now = () => new Date().toISOString();

/** What the engine reports to outside observers (metrics), without knowing who listens. */
export interface EngineObserver {
  /** `seconds`: from the host's slot being free for the job (slot freed or job queued, the later) to the host accepting the prompt. */
  promptSent?(backendId: string, seconds: number): void;
}
