// How a job is written as a row and read back: JSON columns encoded and decoded, NULLs mapped, and the
// columns a transition may patch. No SQL runs here (JobStore reads the rows).

import { readableJson } from "../json-limits.js";
import type { Job, JobAttempt, JobError, JobOutput, JobProgress, JobStatus } from "../models.js";
import type { NewJob } from "./job-store.js";

export type Row = Record<string, unknown>;
export const json = <T>(v: unknown, fallback: T): T =>
  typeof v === "string" ? (JSON.parse(v) as T) : fallback;

/** Fields a transition may set besides the status. */
export interface JobPatch {
  backend_id?: string | null;
  prompt_id?: string | null;
  attempt?: number;
  progress?: JobProgress | null;
  error?: JobError | null;
  started_at?: string | null;
  finished_at?: string | null;
  not_before?: string | null;
  graph?: Job["graph"];
  inputs?: Job["inputs"];
}

export const PATCH_COLUMNS: Record<keyof JobPatch, (v: unknown) => unknown> = {
  backend_id: (v) => v,
  prompt_id: (v) => v,
  attempt: (v) => v,
  progress: (v) => (v == null ? null : JSON.stringify(v)),
  error: (v) => (v == null ? null : JSON.stringify(v)),
  started_at: (v) => v,
  finished_at: (v) => v,
  not_before: (v) => v,
  graph: (v) => JSON.stringify(v),
  inputs: (v) => JSON.stringify(v),
};

/** The insert statement's named parameters for a new job. */
export function toInsertRow(job: NewJob): Record<string, unknown> {
  return {
    ...job,
    parameters: JSON.stringify(job.parameters),
    graph: JSON.stringify(job.graph),
    requires: JSON.stringify(job.requires),
    metadata: job.metadata ? JSON.stringify(job.metadata) : null,
    inputs: JSON.stringify(job.inputs),
    progress: job.progress ? JSON.stringify(job.progress) : null,
    error: job.error ? JSON.stringify(job.error) : null,
    queue_key: job.queue_key ?? null,
    project: job.project ? JSON.stringify(job.project) : null,
    links: JSON.stringify(job.links),
  };
}

/** A job row as a Job; `read` carries its outputs and a project's node runs when the caller read them. */
export function toJob(r: Row, read?: { outputs: JobOutput[]; nodes?: Job[] | undefined }): Job {
  return {
    id: r.id as string,
    seq: r.seq as number,
    status: r.status as JobStatus,
    workflow_id: r.workflow_id as string,
    workflow_version: r.workflow_version as string,
    parameters: readableJson(json(r.parameters, {})),
    graph: json(r.graph, {}),
    requires: json(r.requires, []),
    min_vram_gb: (r.min_vram_gb as number | null) ?? null,
    timeout_s: r.timeout_s as number,
    priority: r.priority as number,
    idempotency_key: (r.idempotency_key as string | null) ?? null,
    owner: (r.owner as string | null) ?? null,
    webhook_url: (r.webhook_url as string | null) ?? null,
    metadata: readableJson(json(r.metadata, null)),
    inputs: json(r.inputs, []),
    backend_id: (r.backend_id as string | null) ?? null,
    prompt_id: (r.prompt_id as string | null) ?? null,
    attempt: r.attempt as number,
    max_attempts: r.max_attempts as number,
    progress: json(r.progress, null),
    error: json(r.error, null),
    outputs: read?.outputs ?? [],
    outputs_expired: r.outputs_expired === 1,
    created_at: r.created_at as string,
    updated_at: r.updated_at as string,
    started_at: (r.started_at as string | null) ?? null,
    finished_at: (r.finished_at as string | null) ?? null,
    not_before: (r.not_before as string | null) ?? null,
    project_id: (r.project_id as string | null) ?? (r.id as string),
    project_node: (r.project_node as string | null) ?? null,
    variant: (r.variant as number | null) ?? null,
    project: json(r.project, null),
    links: json(r.links, []),
    ...(read?.nodes ? { nodes: read.nodes } : {}),
  };
}

export function toAttempt(r: Row): JobAttempt {
  return {
    attempt: r.attempt as number,
    backend_id: r.backend_id as string,
    prompt_id: (r.prompt_id as string | null) ?? null,
    started_at: r.started_at as string,
    ended_at: (r.ended_at as string | null) ?? null,
    error: json<JobError | null>(r.error, null),
  };
}

export function toOutput(r: Row): JobOutput {
  return {
    node_id: r.node_id as string,
    filename: r.filename as string,
    comfy: {
      filename: r.comfy_filename as string,
      subfolder: r.comfy_subfolder as string,
      type: r.comfy_type as string,
    },
    kind: r.kind as string,
    content_type: r.content_type as string,
    size: r.size as number,
    sha256: r.sha256 as string,
    created_at: r.created_at as string,
  };
}
