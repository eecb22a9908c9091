// Recovery of the jobs a host was running when its previous driver stopped: this process before a restart
// (cleanly or by SIGKILL) or, with replicas, another replica whose host lease this one took over. Each is
// re-attached to its prompt there; a job whose host is no longer configured anywhere is requeued.
import type { BackendMonitor } from "../../backends/monitor.js";
import type { Job, JobError } from "../models.js";
import type { JobStore } from "../storage/job-store.js";
import type { Scheduler } from "./scheduler.js";

export interface RecoveryActions {
  /** Follow the job's prompt on `m` again; its attempt still counts against `deadline`. */
  resume(job: Job, m: BackendMonitor, deadline: number): void;
  requeue(job: Job, error: JobError): void;
  /** Whether the job is followed here already (a lease regained before its detached attempt settled). */
  following(jobId: string): boolean;
}

/** Bounds one recovery pass: a host never has more jobs on it than this. */
const RECOVERY_LIMIT = 100_000;

/** Re-attaches to every job left dispatching or running on `m`. */
export function recoverHost(
  store: JobStore,
  scheduler: Scheduler,
  m: BackendMonitor,
  act: RecoveryActions,
): void {
  for (const job of store.onBackend(m.id, RECOVERY_LIMIT)) {
    if (job.project || act.following(job.id)) continue; // a project's own row never runs; its runs do
    scheduler.acquire(m.id, job.id);
    const started = store.attempts(job.id).find((a) => a.attempt === job.attempt)?.started_at;
    act.resume(job, m, (started ? Date.parse(started) : Date.now()) + job.timeout_s * 1000);
  }
}

/**
 * Requeues the jobs left on hosts this process does not know. `mayTake` says whether a host is free to
 * give up: with replicas, one another replica still drives (its config may list more hosts) is not.
 */
export function requeueStranded(
  store: JobStore,
  scheduler: Scheduler,
  act: RecoveryActions,
  mayTake: (backendId: string) => boolean,
): void {
  const known = new Set(scheduler.all().map((m) => m.id));
  for (const backendId of store.unfinishedBackends()) {
    if (known.has(backendId) || !mayTake(backendId)) continue;
    for (const job of store.onBackend(backendId, RECOVERY_LIMIT)) {
      if (job.project) continue;
      act.requeue(job, {
        code: "BACKEND_REMOVED",
        message: `backend "${backendId}" is no longer configured`,
      });
    }
  }
}
