// The data the JobManager works with: the manifest a client sends, the Project it becomes, and the Job.
// zod schemas are the source of truth; the types are inferred from them.
import { z } from "zod";
import { jsonProblem, MAX_METADATA_BYTES } from "./json-limits.js";

/** A ComfyUI graph in API format: node id → {class_type, inputs, _meta}. */
export const ApiNodeSchema = z.looseObject({
  class_type: z.string().min(1),
  inputs: z.record(z.string(), z.unknown()).default({}),
  _meta: z.looseObject({ title: z.string().optional() }).optional(),
});
export const ApiGraphSchema = z.record(z.string().min(1), ApiNodeSchema);
export type ApiNode = z.infer<typeof ApiNodeSchema>;
export type ApiGraph = z.infer<typeof ApiGraphSchema>;

export const JobOptionsSchema = z.strictObject({
  /** Higher runs first; FIFO within one priority. */
  priority: z.number().int().min(-1000).max(1000).default(0),
  idempotency_key: z.string().min(1).max(256).optional(),
  webhook_url: z.url({ protocol: /^https?$/ }).optional(),
  /** Overrides the workflow's and the server's job timeout. */
  timeout_s: z.number().positive().max(86_400).optional(),
  /** Opaque client data returned with the job (e.g. a storyboard shot id). */
  metadata: z
    .record(z.string(), z.unknown())
    .check((c) => {
      const problem = jsonProblem(c.value, MAX_METADATA_BYTES);
      if (problem) c.issues.push({ code: "custom", message: problem, input: c.value });
    })
    .optional(),
});
export type JobOptions = z.infer<typeof JobOptionsSchema>;

export const ManifestSchema = z.strictObject({
  workflow_id: z.string().min(1).max(200),
  parameters: z
    .record(z.string(), z.unknown())
    .check((c) => {
      for (const [name, v] of Object.entries(c.value)) {
        const problem = jsonProblem(v);
        if (problem) c.issues.push({ code: "custom", message: problem, input: v, path: [name] });
      }
    })
    .default({}),
  ...JobOptionsSchema.shape,
});
export type Manifest = z.infer<typeof ManifestSchema>;

export const CanvasNodeSchema = z.strictObject({
  id: z.string().min(1),
  type: z.literal("WORKFLOW"),
  workflow_id: z.string().min(1),
  parameter_values: z.record(z.string(), z.unknown()).default({}),
});
export type CanvasNode = z.infer<typeof CanvasNodeSchema>;

/**
 * What the JobManager runs. A canvas may one day hold chained workflow nodes; today a job is one
 * workflow node, which the schema enforces so a multi-node canvas is a clear 400, not a silent partial run.
 */
export const ProjectSchema = z.strictObject({
  canvas_layout: z.strictObject({
    nodes: z.array(CanvasNodeSchema).length(1, "a project holds exactly one WORKFLOW node"),
  }),
  options: JobOptionsSchema.prefault({}),
});
export type Project = z.infer<typeof ProjectSchema>;

export function manifestToProject(manifest: Manifest): Project {
  const { workflow_id, parameters, ...options } = manifest;
  return {
    canvas_layout: { nodes: [{ id: "node-1", type: "WORKFLOW", workflow_id, parameter_values: parameters }] },
    options,
  };
}

export const JOB_STATUSES = [
  "queued",
  "dispatching",
  "running",
  "retrying",
  "completed",
  "failed",
  "cancelled",
] as const;
export const JobStatusSchema = z.enum(JOB_STATUSES);
export type JobStatus = z.infer<typeof JobStatusSchema>;
export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(["completed", "failed", "cancelled"]);
export const isTerminal = (s: JobStatus) => TERMINAL_STATUSES.has(s);

/**
 * The job state machine. `dispatching` = sent to (or being sent to) a host, not yet executing there;
 * `retrying` = an attempt failed in a way another attempt may fix, waiting out its backoff.
 */
export const JOB_TRANSITIONS: Readonly<Record<JobStatus, readonly JobStatus[]>> = {
  queued: ["dispatching", "failed", "cancelled"],
  dispatching: ["running", "retrying", "completed", "failed", "cancelled"],
  running: ["retrying", "completed", "failed", "cancelled"],
  retrying: ["queued", "failed", "cancelled"],
  completed: [],
  failed: [],
  cancelled: [],
};

export interface JobError {
  code: string;
  message: string;
  details?: unknown;
}

export interface JobProgress {
  value: number;
  max: number;
  node_id: string | null;
  node_title?: string | null;
  /** Whole-graph estimate: finished nodes (cached ones excluded) plus the current node's fraction. */
  percent: number;
}

export interface JobOutput {
  node_id: string;
  filename: string;
  /** Where ComfyUI keeps it, for provenance. */
  comfy: { filename: string; subfolder: string; type: string };
  kind: string;
  content_type: string;
  size: number;
  sha256: string;
  created_at: string;
}

export interface JobAttempt {
  attempt: number;
  backend_id: string;
  prompt_id: string | null;
  started_at: string;
  ended_at: string | null;
  error: JobError | null;
}

/** An image a job needs on its host, kept locally so a retry never needs the client again. */
export interface JobInput {
  parameter: string;
  targets: string[];
  file: string;
  filename: string;
  content_type: string;
  size: number;
}

export interface Job {
  id: string;
  seq: number;
  status: JobStatus;
  workflow_id: string;
  workflow_version: string;
  parameters: Record<string, unknown>;
  graph: ApiGraph;
  requires: string[];
  min_vram_gb: number | null;
  timeout_s: number;
  priority: number;
  idempotency_key: string | null;
  /** The id of the API key that submitted the job; null while access control is off. */
  owner: string | null;
  webhook_url: string | null;
  metadata: Record<string, unknown> | null;
  inputs: JobInput[];
  backend_id: string | null;
  prompt_id: string | null;
  attempt: number;
  max_attempts: number;
  progress: JobProgress | null;
  error: JobError | null;
  outputs: JobOutput[];
  outputs_expired: boolean;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  finished_at: string | null;
  not_before: string | null;
}
