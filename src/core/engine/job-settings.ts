// The JobManager's settings from the config (its seconds, hours and MB as the engine takes them): the part
// of JobManagerOptions that is configuration rather than another part.
import type { Config } from "../../config.js";
import { createUrlFetcher } from "../media/url-fetch.js";
import type { JobManagerOptions } from "./job-manager.js";

export type JobSettings = Omit<JobManagerOptions, "instanceId" | "holdsHost" | "storage">;

export function jobSettings(config: Config): JobSettings {
  return {
    jobTimeoutS: config.jobs.job_timeout_s,
    maxAttempts: config.jobs.max_attempts,
    retryBackoffS: config.jobs.retry_backoff_s,
    recoveryGraceS: config.jobs.recovery_grace_s,
    silenceCheckS: config.jobs.silence_check_s,
    queueTimeoutS: config.scheduler.queue_timeout_s,
    idempotencyTtlH: config.jobs.idempotency_ttl_h,
    nextPromptLeadMs: config.scheduler.next_prompt_lead_ms,
    previews: config.jobs.previews,
    media: {
      maxBytes: config.media.max_image_mb * 1024 * 1024,
      fetchUrl: createUrlFetcher({
        maxBytes: config.media.max_image_mb * 1024 * 1024,
        timeoutMs: config.media.url_timeout_s * 1000,
        allowlist: config.media.url_allowlist,
      }),
    },
  };
}
