// Sends one attempt's prompt to its host: uploads the job's input files, sets their names in a copy of the
// graph, tags the prompt with our instance, job and attempt, and says how a refused submission ends.
import { readFile } from "node:fs/promises";
import { BackendError } from "../../backends/client.js";
import type { BackendMonitor } from "../../backends/monitor.js";
import type { ApiGraph, Job } from "../models.js";
import type { AttemptOutcome } from "./attempt-outcome.js";
import { classifyRejection } from "./failure.js";
import { setInput } from "./graph-patch.js";

export interface Submission {
  instanceId: string;
  /** The prompt id we ask the host to use. */
  promptId: string;
  /** The preview method to ask the host for (extra_data.preview_method), or null for none. */
  previewMethod(): string | null;
  signal: AbortSignal;
}

/** Queues the job's prompt; returns the prompt id the host uses (an older host ignores ours). */
export async function submitPrompt(job: Job, monitor: BackendMonitor, s: Submission): Promise<string> {
  const { client } = monitor;
  const graph: ApiGraph = structuredClone(job.graph);
  for (const input of job.inputs) {
    const bytes = await readFile(input.file);
    const ref = await client.uploadImage(
      bytes,
      `${job.id}_${input.filename}`,
      input.content_type,
      { overwrite: true },
      s.signal,
    );
    const name = ref.subfolder ? `${ref.subfolder}/${ref.filename}` : ref.filename;
    for (const t of input.targets) setInput(graph, t, name);
  }
  const extraData: Record<string, unknown> = {
    orchestrator: { instance: s.instanceId, job_id: job.id, attempt: job.attempt },
  };
  // A stock host renders sampler previews only for prompts that ask.
  const previews = s.previewMethod();
  if (previews) extraData.preview_method = previews;
  const res = await client.queuePrompt(
    graph,
    { clientId: monitor.clientId, promptId: s.promptId, extraData },
    s.signal,
  );
  return res.prompt_id;
}

/** How an attempt ends when submitting its prompt threw. */
export function submissionFailure(err: unknown): AttemptOutcome {
  if (err instanceof BackendError && err.kind === "rejected") {
    const r = classifyRejection(err.body, err.message);
    if (r.hostSpecific) return { kind: "retry", error: r.error, excludeBackend: true };
    return { kind: "failed", error: r.error };
  }
  if ((err as NodeJS.ErrnoException).code === "ENOENT") {
    return {
      kind: "failed",
      error: { code: "MEDIA_INVALID", message: `input file is gone: ${(err as Error).message}` },
    };
  }
  return { kind: "retry", error: { code: "BACKEND_UNAVAILABLE", message: (err as Error).message } };
}

/** Whether a queued prompt carries the tag submitPrompt gave this job's attempt. */
export function isOurJob(extra: Record<string, unknown>, job: Job): boolean {
  const tag = extra.orchestrator as { job_id?: unknown; attempt?: unknown } | undefined;
  return tag?.job_id === job.id && tag?.attempt === job.attempt;
}
