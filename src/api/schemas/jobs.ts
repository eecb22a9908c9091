// The job routes' wire shapes: the manifest a client submits and the job view it reads back. Response
// objects are loose (extra fields pass through) so fields added later serialize without a schema change.
import { z } from "zod";
import {
  ManifestSchema as CoreManifestSchema,
  ProjectManifestSchema as CoreProjectManifestSchema,
  JOB_STATUSES,
  JobStatusSchema,
} from "../../core/models.js";
import { decodeCursor } from "../list-cursor.js";

export const ManifestSchema = CoreManifestSchema.meta({
  id: "Manifest",
  description:
    "A job: the workflow to run and its parameters. Each workflow's parameters are described by " +
    "`GET /api/workflows/{id}` (`parameters_schema`) and in this document as `WorkflowParameters_<id>`.",
  examples: [
    {
      workflow_id: "txt2img_basic",
      parameters: { prompt: "sunset", steps: 20, width: 512, height: 512 },
    },
    {
      workflow_id: "invert_image",
      parameters: { width: 512 },
      priority: 5,
      idempotency_key: "shot-0042",
      metadata: { shot: 42 },
    },
  ],
});

export const ProjectManifestSchema = CoreProjectManifestSchema.meta({
  id: "ProjectManifest",
  description:
    'A project: workflow nodes run as one job. A parameter value `{"from": NODE_ID}` (its first image output) or ' +
    '`{"from": NODE_ID, "output": N}` (its N-th output) links an upstream node\'s output into an image parameter; ' +
    "`count` (1-64) runs a node that many times with its own seed each, and a node linked to it once per variant.",
  examples: [
    {
      project: {
        nodes: [
          { id: "shot1", workflow_id: "txt2img_basic", parameters: { prompt: "a castle at dawn" } },
          {
            id: "shot1_up",
            workflow_id: "scale_image",
            parameters: { image: { from: "shot1" }, width: 2048 },
          },
          {
            id: "shot2",
            workflow_id: "txt2img_basic",
            parameters: { prompt: "the castle at night" },
            count: 4,
          },
        ],
      },
      priority: 5,
      metadata: { storyboard: "ep3" },
    },
  ],
});

/** The body of `POST /api/job`: a single-workflow manifest, or a project (a body with `project`). */
export const SubmitBodySchema = z.union([ManifestSchema, ProjectManifestSchema]).meta({
  id: "SubmitBody",
  description: "A single-workflow manifest, or a project of workflow nodes (a body with `project`)",
});

export const SubmitQuery = z.object({
  wait: z.coerce
    .number()
    .min(0)
    .optional()
    .meta({ description: "Hold the request up to this many seconds (capped by `server.max_wait_s`)" }),
});

export const JobQuery = z.object({
  include: z.string().optional().meta({ description: "`graph`: add the exact graph sent to ComfyUI" }),
});

const StatusList = z
  .string()
  .transform((s) =>
    s
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.enum(JOB_STATUSES)))
  .meta({
    description: `Comma-separated statuses: ${JOB_STATUSES.join(", ")}`,
    examples: ["queued,running"],
  });

export function listQuery(limitMax: number) {
  return z.strictObject({
    status: StatusList.optional(),
    workflow_id: z.string().optional(),
    limit: z.coerce.number().int().min(1).max(limitMax).default(50),
    cursor: z
      .string()
      .transform((v, ctx) => {
        const seq = decodeCursor(v);
        if (seq === null)
          ctx.addIssue({ code: "custom", message: "expected the next_cursor of a previous page" });
        return seq ?? 0;
      })
      .optional()
      .meta({ description: "The `next_cursor` of the previous page, as it was (an opaque string)" }),
  });
}

export const OutputParams = z.object({
  id: z.string().min(1).max(200),
  filename: z.string().min(1).meta({ description: "An `outputs[].filename` of the job" }),
});

export const JobErrorSchema = z
  .looseObject({ code: z.string(), message: z.string(), details: z.unknown().optional() })
  .meta({ id: "JobError", description: "Why a job (or one attempt) failed" });

export const JobProgressSchema = z
  .looseObject({
    value: z.number(),
    max: z.number(),
    node_id: z.string().nullable(),
    node_title: z.string().nullable().optional(),
    percent: z.number().meta({ description: "Whole-graph estimate, 0-100" }),
  })
  .meta({ id: "JobProgress" });

export const JobOutputSchema = z
  .looseObject({
    filename: z.string(),
    node_id: z.string(),
    kind: z.string(),
    content_type: z.string(),
    size: z.number().int(),
    sha256: z.string(),
    url: z.string().meta({ description: "Absolute download URL" }),
    project_node: z.string().optional().meta({ description: "The project node that made it" }),
    variant: z.number().int().nullable().optional().meta({ description: "Its variant (count), or null" }),
  })
  .meta({ id: "JobOutput" });

export const ProjectNodeViewSchema = z
  .looseObject({
    id: z.string().nullable().meta({ description: "The project node's id" }),
    variant: z.number().int().nullable(),
    workflow_id: z.string(),
    status: JobStatusSchema,
    backend_id: z.string().nullable(),
    prompt_id: z.string().nullable().optional(),
    attempts: z.number().int().meta({ description: "Attempts so far" }),
    progress: JobProgressSchema.nullable(),
    error: JobErrorSchema.nullable(),
    outputs: z.array(JobOutputSchema),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
  })
  .meta({ id: "ProjectNodeRun", description: "One run of a project node (one per variant)" });

export const JobAttemptSchema = z
  .looseObject({
    attempt: z.number().int(),
    backend_id: z.string(),
    prompt_id: z.string().nullable(),
    started_at: z.string(),
    ended_at: z.string().nullable(),
    error: JobErrorSchema.nullable(),
  })
  .meta({ id: "JobAttempt" });

export const WebhookStatusSchema = z
  .looseObject({
    url: z.string(),
    status: z.string(),
    attempts: z.number().int(),
    last_status: z.number().int().nullable(),
    last_error: z.string().nullable(),
    delivered_at: z.string().nullable(),
  })
  .meta({ id: "WebhookStatus" });

const iso = () => z.string().meta({ description: "ISO 8601 timestamp" });

export const JobViewSchema = z
  .looseObject({
    job_id: z.string(),
    status: JobStatusSchema,
    workflow_id: z.string().nullable().meta({ description: "null for a multi-node project" }),
    workflow_version: z.string().nullable(),
    parameters: z
      .record(z.string(), z.unknown())
      .nullable()
      .meta({ description: "As run, including generated seeds (null for a multi-node project)" }),
    priority: z.number().int(),
    owner: z
      .string()
      .nullable()
      .meta({ description: "Id of the API key that submitted the job; null while access control is off" }),
    backend_id: z.string().nullable(),
    prompt_id: z.string().nullable(),
    attempt: z.number().int(),
    max_attempts: z.number().int(),
    progress: JobProgressSchema.nullable(),
    error: JobErrorSchema.nullable(),
    outputs: z.array(JobOutputSchema),
    nodes: z.array(ProjectNodeViewSchema).optional().meta({ description: "Per project node run" }),
    outputs_expired: z.boolean(),
    attempts: z.array(JobAttemptSchema).optional(),
    metadata: z.record(z.string(), z.unknown()).nullable(),
    idempotency_key: z.string().nullable(),
    timeout_s: z.number(),
    created_at: iso(),
    updated_at: iso(),
    started_at: iso().nullable(),
    finished_at: iso().nullable(),
    webhook: WebhookStatusSchema.optional(),
    graph: z.record(z.string(), z.unknown()).optional().meta({ description: "With `?include=graph`" }),
    scheduling: z
      .looseObject({
        reason: z.string().meta({ description: "Why the job waits, e.g. for a host with its model warm" }),
        backend_id: z.string().nullable().meta({ description: "The host it waits for" }),
        estimates: z.array(
          z.looseObject({
            backend_id: z.string(),
            expected_s: z.number().meta({ description: "Wait + load + run" }),
            wait_s: z.number(),
            load_s: z.number(),
            run_s: z.number(),
          }),
        ),
      })
      .optional()
      .meta({ description: "Queued jobs only: where the scheduler expects it to finish first" }),
  })
  .meta({ id: "Job", description: "A job's state, progress, outputs and attempts" });
export type JobView = z.infer<typeof JobViewSchema>;

export const SubmitAcceptedSchema = z
  .looseObject({
    job_id: z.string(),
    status: JobStatusSchema,
    message: z.string(),
    created: z.boolean().meta({ description: "false: a job with this idempotency key already existed" }),
    url: z.string(),
  })
  .meta({
    id: "SubmitAccepted",
    examples: [
      {
        job_id: "0b7e6c2a-5d1f-4c55-9a43-2f1f8c1e9d10",
        status: "queued",
        message: "Job queued for execution",
        created: true,
        url: "http://localhost:8080/api/job/0b7e6c2a-5d1f-4c55-9a43-2f1f8c1e9d10",
      },
    ],
  });
export type SubmitAccepted = z.infer<typeof SubmitAcceptedSchema>;

/** `?wait` ran out before the job ended: its current state plus why it is not final. */
export const JobStillRunningSchema = JobViewSchema.extend({ message: z.string() }).meta({
  id: "JobStillRunning",
});

export const JobListSchema = z
  .looseObject({
    jobs: z.array(JobViewSchema),
    next_cursor: z.string().nullable().meta({
      description:
        "Opaque: pass it as `cursor` for the next page, unchanged; null on the last. Any replica accepts it",
    }),
  })
  .meta({ id: "JobList" });
export type JobList = z.infer<typeof JobListSchema>;

/** A downloaded output: its bytes, with its content type. */
export const BinarySchema = z.any().meta({ type: "string", format: "binary" });
