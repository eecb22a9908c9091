// Removes prompts of ours that a host still holds although their attempt is over: left by a failover, a
// restart that requeued the job, or a cancel that could not reach the host. This is what keeps a job from
// running on two hosts at once.
import type { Logger } from "pino";
import type { BackendMonitor } from "../../backends/monitor.js";
import { isTerminal } from "../models.js";
import type { JobStore } from "../storage/job-store.js";

/** A finished job's prompt may still be in a stale poll for a moment; only older ones are orphans. */
const ORPHAN_AGE_MS = 10_000;

export function reapOrphans(m: BackendMonitor, store: JobStore, log: Logger): void {
  for (const item of m.snapshot.ours) {
    const tag = item.extra_data.orchestrator as { job_id?: string; attempt?: number } | undefined;
    const job = tag?.job_id ? store.get(tag.job_id) : null;
    const stale =
      !job ||
      (tag?.attempt ?? 0) < job.attempt ||
      (isTerminal(job.status) && Date.now() - Date.parse(job.finished_at ?? job.updated_at) > ORPHAN_AGE_MS);
    if (!stale) continue;
    m.client.removePrompt(item.prompt_id, AbortSignal.timeout(5000)).then(
      (done) => {
        // Interrupted, it still holds the host until it ends, like a cancelled prompt.
        if (done === "interrupted") m.awaitEnd(item.prompt_id);
        if (done !== "absent") {
          log.warn(
            { backend_id: m.id, prompt_id: item.prompt_id, job_id: tag?.job_id, done },
            "removed an orphaned prompt of ours from backend",
          );
        }
      },
      (err: Error) => log.debug({ backend_id: m.id, err: err.message }, "could not remove orphaned prompt"),
    );
  }
}
