// Where and when a failed attempt's job tries again: hosts to avoid and VRAM to look for (from how the
// attempt failed), an exponential backoff with jitter, and the dispatch group those hints put it in; and the
// errors a job ends with when no attempt is left.
import type { Job, JobAttempt, JobError } from "../models.js";
import type { AttemptOutcome } from "./attempt.js";
import { queueKey, startedKey } from "./dispatch-queue.js";
import { requirementsOf } from "./requirements.js";
import type { SelectOptions } from "./scheduler.js";

export interface NextAttempt {
  hint: SelectOptions;
  notBefore: string;
  queueKey: string;
}

export function nextAttempt(
  job: Job,
  backendId: string,
  outcome: Extract<AttemptOutcome, { kind: "retry" }>,
  previous: SelectOptions | undefined,
  retryBackoffS: number,
): NextAttempt {
  const hint: SelectOptions = { ...previous };
  if (outcome.excludeBackend) hint.exclude = new Set([...(hint.exclude ?? []), backendId]);
  if (outcome.minFreeVramBytes !== undefined) hint.minFreeVramBytes = outcome.minFreeVramBytes;
  // A host that just died should not get the job straight back; jitter keeps retries from bunching.
  const delay = retryBackoffS * 1000 * 2 ** (job.attempt - 1) * (0.75 + Math.random() * 0.5);
  return {
    hint,
    notBefore: new Date(Date.now() + Math.min(delay, 60_000)).toISOString(),
    // A hint changes where the job may go, so it moves to the group of jobs with the same hint; a retried
    // job's project has started, so it goes before new projects' first nodes of its priority.
    queueKey: startedKey(
      queueKey({ requirements: requirementsOf(job), options: hint }, { owner: job.owner }),
    ),
  };
}

/** A job out of attempts: every attempt's host and error. */
export function exhaustedError(job: Job, last: JobError, attempts: JobAttempt[]): JobError {
  return {
    code: "ATTEMPTS_EXHAUSTED",
    message: `failed ${job.attempt} attempt(s); last: ${last.message}`,
    details: {
      attempts: attempts.map((a) => ({ attempt: a.attempt, backend_id: a.backend_id, error: a.error })),
    },
  };
}

/** Every host that could run the job refused it for a reason of its own: each refusal. */
export function refusedError(last: JobError, attempts: JobAttempt[], refused: ReadonlySet<string>): JobError {
  const refusals = attempts
    .filter((a) => a.error && refused.has(a.backend_id))
    .map((a) => ({ attempt: a.attempt, backend_id: a.backend_id, error: a.error }));
  const hosts = [...new Set(refusals.map((r) => r.backend_id))];
  return {
    code: "REJECTED_BY_ALL_BACKENDS",
    message: `every backend that could run the job refused it (${hosts.join(", ")}); last: ${last.message}`,
    details: { refusals },
  };
}
