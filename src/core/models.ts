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

/** A parameter value that feeds an upstream node's output in: its first image, or its N-th output. */
export const NodeLinkSchema = z.strictObject({
  from: z.string().min(1).max(128),
  output: z.number().int().min(0).max(10_000).optional(),
});
export type NodeLink = z.infer<typeof NodeLinkSchema>;
export const isNodeLink = (v: unknown): v is NodeLink => NodeLinkSchema.safeParse(v).success;

/** Most nodes one project may hold (and runs, counting every `count` variant). */
export const MAX_PROJECT_NODES = 500;
export const MAX_PROJECT_RUNS = 2000;
export const MAX_NODE_COUNT = 64;
const NODE_ID = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,128}$/, "expected 1-128 letters, digits, '_', '.', ':' or '-'");

export const CanvasNodeSchema = z.strictObject({
  id: NODE_ID,
  type: z.literal("WORKFLOW"),
  workflow_id: z.string().min(1).max(200),
  /** Values as the client sent them; a `{"from": NODE_ID}` value is a link (see NodeLinkSchema). */
  parameter_values: z.record(z.string(), z.unknown()).default({}),
  /** Variants to run, each with its own seed. */
  count: z.number().int().min(1).max(MAX_NODE_COUNT).default(1),
});
export type CanvasNode = z.infer<typeof CanvasNodeSchema>;

/** What the JobManager runs: a canvas of workflow nodes, chained by links; a single manifest is one node. */
export const ProjectSchema = z.strictObject({
  canvas_layout: z.strictObject({
    nodes: z.array(CanvasNodeSchema).min(1).max(MAX_PROJECT_NODES),
  }),
  options: JobOptionsSchema.prefault({}),
});
export type Project = z.infer<typeof ProjectSchema>;

/** `POST /api/job` with a `project`: nodes as a client writes them. */
export const ProjectManifestSchema = z.strictObject({
  project: z.strictObject({
    nodes: z
      .array(
        z.strictObject({
          id: NODE_ID,
          workflow_id: z.string().min(1).max(200),
          parameters: z.record(z.string(), z.unknown()).default({}),
          count: z.number().int().min(1).max(MAX_NODE_COUNT).default(1),
        }),
      )
      .min(1)
      .max(MAX_PROJECT_NODES, `a project holds at most ${MAX_PROJECT_NODES} nodes`),
  }),
  ...JobOptionsSchema.shape,
});
export type ProjectManifest = z.infer<typeof ProjectManifestSchema>;

export function manifestToProject(manifest: Manifest): Project {
  const { workflow_id, parameters, ...options } = manifest;
  return {
    canvas_layout: {
      nodes: [{ id: "node-1", type: "WORKFLOW", workflow_id, parameter_values: parameters, count: 1 }],
    },
    options,
  };
}

export function projectManifestToProject(manifest: ProjectManifest): Project {
  const { project, ...options } = manifest;
  return {
    canvas_layout: {
      nodes: project.nodes.map((n) => ({
        id: n.id,
        type: "WORKFLOW" as const,
        workflow_id: n.workflow_id,
        parameter_values: n.parameters,
        count: n.count,
      })),
    },
    options,
  };
}

export const JOB_STATUSES = [
  "waiting",
  "queued",
  "dispatching",
  "running",
  "retrying",
  "completed",
  "failed",
  "cancelled",
  "skipped",
] as const;
export const JobStatusSchema = z.enum(JOB_STATUSES);
export type JobStatus = z.infer<typeof JobStatusSchema>;
export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set([
  "completed",
  "failed",
  "cancelled",
  "skipped",
]);
export const isTerminal = (s: JobStatus) => TERMINAL_STATUSES.has(s);

/**
 * The job state machine. `dispatching` = sent to (or being sent to) a host, not yet executing there;
 * `retrying` = an attempt failed in a way another attempt may fix, waiting out its backoff.
 * A project node's run is `waiting` until its upstream nodes completed, `skipped` when one of them did not.
 * A multi-node project's own row goes queued → running (its first node started) → its end.
 */
export const JOB_TRANSITIONS: Readonly<Record<JobStatus, readonly JobStatus[]>> = {
  waiting: ["queued", "failed", "skipped", "cancelled"],
  queued: ["dispatching", "running", "failed", "cancelled", "skipped"],
  dispatching: ["running", "retrying", "completed", "failed", "cancelled"],
  running: ["retrying", "completed", "failed", "cancelled"],
  retrying: ["queued", "failed", "cancelled", "skipped"],
  completed: [],
  failed: [],
  cancelled: [],
  skipped: [],
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
  /** The ComfyUI node inside the workflow that produced it. */
  node_id: string;
  /** Set on a project's outputs: the project node, its variant, and the run whose folder holds the file. */
  project_node?: string;
  variant?: number | null;
  run_id?: string;
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
  /** The job a client sees: its own id for a single workflow, the project's for a multi-node project's run. */
  project_id: string;
  /** The node this row runs, or null on a multi-node project's own row. */
  project_node: string | null;
  variant: number | null;
  /** On a multi-node project's own row: its nodes and links (the row itself never runs). */
  project: ProjectSpec | null;
  /** Upstream outputs this run takes, resolved into `inputs` when it becomes ready. */
  links: RunLink[];
  /** On a multi-node project's row (when read whole): its runs, each with its own outputs. */
  nodes?: Job[];
}

/** A project as stored on its row: per node, its workflow and how many variants. */
export interface ProjectSpec {
  nodes: { id: string; workflow_id: string; count: number }[];
}

export interface RunLink {
  parameter: string;
  /** The workflow inputs the parameter patches (recorded at submit: the workflow may change meanwhile). */
  targets: string[];
  /** The upstream run (row id) whose output feeds `parameter`. */
  run_id: string;
  from: string;
  /** Index into that run's outputs; absent: its first image. */
  output?: number;
}
