// Start-up recovery: every job that was on a host when the previous process stopped (cleanly or by
// SIGKILL) is re-attached to its prompt there, or requeued if its host is no longer configured.
import type { BackendMonitor } from "../../backends/monitor.js";
import type { Job, JobError } from "../models.js";
import type { JobStore } from "../storage/job-store.js";
import type { Scheduler } from "./scheduler.js";

export interface RecoveryActions {
  /** Follow the job's prompt on `m` again; its attempt still counts against `deadline`. */
  resume(job: Job, m: BackendMonitor, deadline: number): void;
  requeue(job: Job, error: JobError): void;
}

export function recoverJobs(store: JobStore, scheduler: Scheduler, act: RecoveryActions): void {
  for (const status of ["dispatching", "running"] as const) {
    for (const job of store.withStatus(status, 100_000)) {
      if (job.project) continue; // a project's own row never runs; its runs are rows of their own
      const m = scheduler.all().find((b) => b.id === job.backend_id);
      if (!m) {
        act.requeue(job, {
          code: "BACKEND_REMOVED",
          message: `backend "${job.backend_id}" is no longer configured`,
        });
        continue;
      }
      scheduler.acquire(m.id, job.id);
      const started = store.attempts(job.id).find((a) => a.attempt === job.attempt)?.started_at;
      act.resume(job, m, (started ? Date.parse(started) : Date.now()) + job.timeout_s * 1000);
    }
  }
}
