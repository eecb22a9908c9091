// Applies a multi-node project's next step (decided by ProjectRunner): queues ready runs, fails or skips the
// ones that never can run, and ends the project with its runs. Only the JobManager calls it.
import type { Logger } from "pino";
import { isTerminal, type JobError, type JobStatus } from "../models.js";
import type { JobStore } from "../storage/job-store.js";
import { type DispatchQueue, queueKey, startedKey } from "./dispatch-queue.js";
import { FINAL_PROGRESS } from "./live-progress.js";
import type { ProjectRunner } from "./project-runner.js";
import { requirementsOf } from "./requirements.js";
import type { RunEvents } from "./run-events.js";

export class ProjectAdvancer {
  constructor(
    private readonly store: JobStore,
    private readonly projects: ProjectRunner,
    private readonly queue: DispatchQueue,
    private readonly say: RunEvents,
    private readonly log: Logger,
    private readonly kick: () => void,
  ) {}

  /**
   * A multi-node project's next step after one of its runs ended (or after a restart): ready runs are
   * queued with their upstream outputs, runs that never can are skipped, and the project ends with its runs.
   */
  advance(projectId: string): void {
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
}

const now = () => new Date().toISOString();
