// How an attempt ends, as the retry policy reads it: the outcome type, and the outcomes a finished prompt's
// /history verdict and a timeout stand for.
import type { Job, JobError } from "../models.js";
import type { HistoryVerdict } from "./history-outcome.js";

export type AttemptOutcome =
  | { kind: "completed" }
  | { kind: "failed"; error: JobError }
  | { kind: "retry"; error: JobError; excludeBackend?: boolean; minFreeVramBytes?: number }
  | { kind: "cancelled" }
  | { kind: "detached" };

/**
 * The outcome of a prompt that did not succeed. `vramFree` is the host's free VRAM now; `lastError` the
 * execution_error the host sent, if any.
 */
export function failedOutcome(
  v: Exclude<HistoryVerdict, { kind: "success" }>,
  vramFree: number | null | undefined,
  lastError: JobError | null,
): AttemptOutcome {
  if (v.kind === "error" && v.oom) {
    // A CPU host has no VRAM (null): any GPU host with free VRAM qualifies for the retry.
    const minFreeVramBytes = vramFree ?? 0;
    return { kind: "retry", error: v.error, minFreeVramBytes };
  }
  if (v.kind === "error") return { kind: "failed", error: v.error };
  if (v.kind === "interrupted") {
    const error = {
      code: "INTERRUPTED",
      message: "the prompt was interrupted on the host by another client",
    };
    return { kind: "retry", error };
  }
  const error = lastError ?? {
    code: "EXECUTION_ERROR",
    message: `ComfyUI reported status "${v.status}"`,
  };
  return { kind: "failed", error };
}

export function timeoutError(job: Job): JobError {
  return { code: "TIMEOUT", message: `the job did not finish within ${job.timeout_s} s` };
}
