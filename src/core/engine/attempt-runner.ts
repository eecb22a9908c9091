// Runs one attempt of a job on a host and settles its end (completed, failed, retry, cancelled): the
// JobManager's hands for dispatched work. It holds the attempts in flight and each job's retry hints.
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { BackendMonitor } from "../../backends/monitor.js";
import type { Job, JobError, JobStatus } from "../models.js";
import type { FileStore } from "../storage/file-store.js";
import type { JobStore } from "../storage/job-store.js";
import { Attempt, type AttemptOutcome, type StopReason } from "./attempt.js";
import type { DispatchPlanner } from "./dispatch-planner.js";
import { type DispatchQueue, STARTED } from "./dispatch-queue.js";
import type { EngineObserver, JobManagerOptions } from "./job-manager.js";
import { FINAL_PROGRESS, type LiveProgress } from "./live-progress.js";
import type { NextPromptGate } from "./next-prompt-gate.js";
import { requirementsOf } from "./requirements.js";
import { exhaustedError, nextAttempt, refusedError } from "./retry-policy.js";
import type { RunEvents } from "./run-events.js";
import type { Scheduler, SelectOptions } from "./scheduler.js";

export interface AttemptRunnerDeps {
  store: JobStore;
  scheduler: Scheduler;
  files: FileStore;
  opts: JobManagerOptions;
  log: Logger;
  planner: DispatchPlanner | null;
  queue: DispatchQueue;
  gate: NextPromptGate;
  progress: LiveProgress;
  say: RunEvents;
  observer: () => EngineObserver;
  /** A run ended: its project's next step. */
  advance: (projectId: string) => void;
  kick: () => void;
}

const ACTIVE: readonly JobStatus[] = ["queued", "retrying", "dispatching", "running"];

export class AttemptRunner {
  private readonly active = new Map<string, { attempt: Attempt; done: Promise<void>; job: Job }>();
  /** Per job, hosts to avoid and VRAM to look for on its next attempt (lost on restart: only a preference). */
  private readonly hints = new Map<string, SelectOptions>();
  /** Attempt ends whose writes failed while storage was unavailable, replayed when it recovers. */
  private readonly deferred: (() => void)[] = [];
  private readonly store: JobStore;
  private readonly scheduler: Scheduler;
  private readonly opts: JobManagerOptions;
  private readonly log: Logger;
  private readonly say: RunEvents;

  constructor(private readonly d: AttemptRunnerDeps) {
    this.store = d.store;
    this.scheduler = d.scheduler;
    this.opts = d.opts;
    this.log = d.log;
    this.say = d.say;
  }

  hint(jobId: string): SelectOptions | undefined {
    return this.hints.get(jobId);
  }

  forgetHint(jobId: string): void {
    this.hints.delete(jobId);
  }

  /** Stops the attempt running `jobId`, if any; its end is settled as usual. */
  stop(jobId: string, why: StopReason): void {
    this.active.get(jobId)?.attempt.stop(why);
  }

  /** Stops every attempt in flight and waits for their ends to be settled. */
  async stopAll(): Promise<void> {
    const pending = [...this.active.values()];
    for (const a of pending) a.attempt.stop("shutdown");
    await Promise.all(pending.map((a) => a.done));
  }

  /** Detaches from every attempt on one host (its lease went to another replica); their jobs stay as they are. */
  detachHost(backendId: string): void {
    for (const a of this.active.values()) if (a.attempt.monitor.id === backendId) a.attempt.stop("shutdown");
  }

  activeJobIds(): string[] {
    return [...this.active.keys()];
  }

  follows(jobId: string): boolean {
    return this.active.has(jobId);
  }

  /** The job whose attempt sent `promptId`, if it is in flight here. */
  jobOfPrompt(promptId: string): Job | undefined {
    return [...this.active.values()].find((x) => x.attempt.prompt === promptId)?.job;
  }

  replayDeferred(): void {
    for (const replay of this.deferred.splice(0)) replay();
  }

  startAttempt(job: Job, m: BackendMonitor): boolean {
    const attempt = job.attempt + 1;
    const promptId = randomUUID();
    const ok = this.store.transaction(() => {
      if (!this.holds(m.id)) return false;
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
      for (const k of this.store.projects.markStarted(job.project_id, STARTED)) this.d.queue.joined(k);
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

  run(job: Job, m: BackendMonitor, resume: boolean, deadline: number, readyAt?: number): void {
    const started = Date.now();
    this.d.planner?.started(job, m);
    const attempt = new Attempt(job, m, deadline, {
      instanceId: this.opts.instanceId,
      files: this.d.files,
      log: this.log,
      silenceCheckMs: this.opts.silenceCheckS * 1000,
      graceMs: this.opts.recoveryGraceS * 1000,
      onRunning: () => {
        this.d.gate.started(attempt);
        if (this.store.transition(job.id, ["dispatching"], "running", { started_at: now() })) {
          this.log.info({ job_id: job.id, backend_id: m.id, prompt_id: attempt.prompt }, "job running");
          this.say.emit(job, "running", { backend_id: m.id, attempt: job.attempt });
        }
      },
      onProgress: (p) => {
        this.d.gate.progressed(attempt);
        this.d.progress.record(job.id, p);
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
        if (readyAt !== undefined) this.d.observer().promptSent?.(m.id, (Date.now() - readyAt) / 1000);
      },
    });
    const done = attempt
      .run(resume)
      .catch((err: Error): AttemptOutcome => {
        this.log.error({ job_id: job.id, err }, "attempt crashed");
        return { kind: "retry", error: { code: "INTERNAL", message: err.message } };
      })
      .then((outcome) => {
        this.d.gate.ended(attempt, outcome.kind === "completed" ? attempt.runningForMs : null);
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

  private holds(backendId: string): boolean {
    return this.opts.holdsHost?.(backendId) ?? true;
  }

  private settle(job: Job, m: BackendMonitor, reported: AttemptOutcome, seconds: number): void {
    let outcome = reported;
    if (outcome.kind !== "detached" && !this.holds(m.id)) {
      // Another replica drives the host now and follows this prompt: its end is that replica's to write.
      this.log.info(
        { job_id: job.id, backend_id: m.id, outcome: outcome.kind },
        "attempt ended after the host's lease was lost: left to its new driver",
      );
      outcome = { kind: "detached" };
    }
    this.active.delete(job.id);
    this.d.progress.forget(job.id);
    this.d.planner?.ended(job.id, m.id);
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
    this.d.advance(job.project_id);
    this.d.kick();
  }

  /** `from`: the states the job may be failed from (narrower when the caller read it in one of them). */
  fail(job: Job, error: JobError, from: readonly JobStatus[] = ACTIVE): void {
    const done = this.store.transaction(() => {
      this.store.endAttempt(job.id, job.attempt, error);
      return this.store.transition(job.id, from, "failed", {
        error,
        finished_at: now(),
      });
    });
    if (!done) return;
    this.hints.delete(job.id);
    this.log.warn({ job_id: job.id, backend_id: job.backend_id, error }, "job failed");
    this.say.emit(job, "failed", { error });
  }

  retry(job: Job, backendId: string, outcome: Extract<AttemptOutcome, { kind: "retry" }>): void {
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
}

const now = () => new Date().toISOString();
