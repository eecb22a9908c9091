// The live event protocol of GET /api/ws and GET /api/job/{id}/events, as schemas: the documentation
// (components of the OpenAPI document) and the typed client's event union come from here. A new event type
// belongs here too: the client tests check every streamed message against these schemas.
import { z } from "zod";
import { RoleSchema } from "../../config-auth.js";
import { ErrorSchema } from "./common.js";
import { JobErrorSchema, JobProgressSchema, JobViewSchema } from "./jobs.js";

const envelope = <T extends string, S extends z.core.$ZodLooseShape>(
  type: T,
  shape: S,
  description: string,
) =>
  z
    .looseObject({
      type: z.literal(type),
      job_id: z.string(),
      seq: z.number().int().meta({ description: "Global, strictly increasing across all jobs" }),
      ts: z.string(),
      ...shape,
    })
    .meta({ description });

/** A run of one node of a multi-node project, reported on the project's job id. */
const node = <T extends string, S extends z.core.$ZodLooseShape>(type: T, shape: S, description: string) =>
  envelope(
    type,
    {
      ...shape,
      project_node: z.string().meta({ description: "The project node's id" }),
      variant: z.number().int().nullable().meta({ description: "Its variant (count / fan-out), or null" }),
    },
    description,
  );

const progressShape = {
  value: z.number(),
  max: z.number(),
  node_id: z.string().nullable(),
  node_title: z.string().nullable().optional(),
  percent: z.number(),
};
const outputShape = {
  filename: z.string(),
  url: z.string(),
  node_id: z.string(),
  kind: z.string(),
  content_type: z.string(),
  size: z.number(),
};

export const JobEventSchema = z
  .discriminatedUnion("type", [
    envelope(
      "job.snapshot",
      { job: JobViewSchema },
      "First message of every subscription: the job as GET returns it",
    ),
    envelope(
      "job.queued",
      {
        workflow_id: z.string().nullable().optional(),
        priority: z.number().optional(),
        attempt: z.number().optional(),
      },
      "Accepted (a multi-node project: `workflow_id` null), or back in the queue for a retry",
    ),
    envelope(
      "job.dispatched",
      { backend_id: z.string(), attempt: z.number(), prompt_id: z.string().nullable().optional() },
      "Sent to a host",
    ),
    envelope("job.running", { backend_id: z.string(), attempt: z.number() }, "Executing on its host"),
    envelope(
      "job.progress",
      progressShape,
      "Sampler progress; coalesced for slow readers. A multi-node project's: the mean over its runs",
    ),
    envelope("job.output", outputShape, "An output was stored and can be downloaded"),
    envelope(
      "job.retrying",
      { attempt: z.number(), error: JobErrorSchema, next_attempt_at: z.string().optional() },
      "An attempt failed; another follows after a backoff",
    ),
    envelope(
      "job.completed",
      {
        backend_id: z.string().nullable().optional(),
        outputs: z.array(z.string()),
        progress: JobProgressSchema.optional(),
      },
      "Terminal: finished with outputs",
    ),
    envelope("job.failed", { error: JobErrorSchema }, "Terminal: failed"),
    envelope("job.cancelled", { from: z.string() }, "Terminal: cancelled (`from`: the status it was in)"),
    node(
      "job.node.queued",
      { workflow_id: z.string(), priority: z.number(), attempt: z.number().optional() },
      "A project node's run is ready to run (its upstream nodes completed), or back for a retry",
    ),
    node(
      "job.node.dispatched",
      { backend_id: z.string(), attempt: z.number(), prompt_id: z.string().nullable().optional() },
      "A project node's run was sent to a host",
    ),
    node(
      "job.node.running",
      { backend_id: z.string(), attempt: z.number() },
      "A project node's run is executing",
    ),
    node("job.node.progress", progressShape, "A project node's run's progress"),
    node(
      "job.node.output",
      outputShape,
      "A project node's output was stored (its url is under the project's job id)",
    ),
    node(
      "job.node.retrying",
      { attempt: z.number(), error: JobErrorSchema, next_attempt_at: z.string().optional() },
      "A project node's attempt failed; another follows",
    ),
    node(
      "job.node.completed",
      {
        backend_id: z.string().nullable().optional(),
        outputs: z.array(z.string()),
        progress: JobProgressSchema.optional(),
      },
      "A project node's run completed",
    ),
    node(
      "job.node.failed",
      { error: JobErrorSchema },
      "A project node's run failed (its dependents are skipped)",
    ),
    node("job.node.cancelled", { from: z.string() }, "A project node's run was stopped by a cancel"),
    node(
      "job.node.skipped",
      { error: JobErrorSchema },
      "A project node's run will not run: an upstream node failed, or the project was cancelled",
    ),
  ])
  .meta({
    id: "JobEvent",
    description:
      "One job event. Over SSE each is a frame with `id:` (its seq), `event:` (its type) and `data:` (this JSON).",
    examples: [
      {
        type: "job.progress",
        job_id: "5f0c2d7e-8a41-4b1e-9a0e-3c2f6b7d9e10",
        seq: 812,
        ts: "2025-05-01T10:00:03.120Z",
        value: 12,
        max: 20,
        node_id: "3",
        node_title: "KSampler",
        percent: 61.9,
      },
    ],
  });
export type JobEvent = z.infer<typeof JobEventSchema>;
export type JobEventType = JobEvent["type"];
export const TERMINAL_EVENT_TYPES: readonly JobEventType[] = ["job.completed", "job.failed", "job.cancelled"];

const JobIds = z.array(z.string().min(1).max(200)).min(1).max(1000);
const Target = { job_ids: JobIds.optional(), all: z.literal(true).optional() };
const eitherTarget = (m: { job_ids?: string[]; all?: true }) =>
  (m.job_ids === undefined) !== (m.all === undefined);
const targetProblem = { message: 'give either "job_ids" or "all": true', path: ["job_ids"] };

export const SubscribeSchema = z
  .strictObject({ type: z.literal("subscribe"), ...Target, previews: z.boolean().default(false) })
  .refine(eitherTarget, targetProblem)
  .meta({
    description: "Follow some jobs (`job_ids`) or every job (`all`); `previews` adds binary preview frames",
  });
export const UnsubscribeSchema = z
  .strictObject({ type: z.literal("unsubscribe"), ...Target })
  .refine(eitherTarget, targetProblem);

export const AuthMessageSchema = z
  .strictObject({ type: z.literal("auth"), token: z.string().max(1024) })
  .meta({
    description:
      "The API key, for a socket opened without one in its headers (browsers cannot set them); must be the " +
      "first message when access control is on",
  });

export const WsClientMessageSchema = z.union([SubscribeSchema, UnsubscribeSchema, AuthMessageSchema]).meta({
  id: "WsClientMessage",
  description: "A JSON text message a client sends on /api/ws",
  examples: [
    { type: "subscribe", job_ids: ["JOB_ID"] },
    { type: "subscribe", all: true, previews: true },
  ],
});
export type WsClientMessage = z.input<typeof WsClientMessageSchema>;

export const WsServerMessageSchema = z
  .union([
    JobEventSchema,
    z.looseObject({
      type: z.literal("subscribed"),
      job_ids: z.array(z.string()).optional(),
      all: z.literal(true).optional(),
      previews: z.boolean(),
    }),
    z.looseObject({
      type: z.literal("unsubscribed"),
      job_ids: z.array(z.string()).optional(),
      all: z.literal(true).optional(),
    }),
    z.looseObject({ type: z.literal("error"), error: ErrorSchema.shape.error }),
    z.looseObject({ type: z.literal("authenticated"), key_id: z.string(), role: RoleSchema }),
  ])
  .meta({
    id: "WsServerMessage",
    description:
      "A JSON text message the server sends on /api/ws. Previews come as binary frames: 4-byte big-endian " +
      'header length N, N bytes of JSON `{"type":"job.preview","job_id","content_type"}`, then the image.',
  });
export type WsServerMessage = z.infer<typeof WsServerMessageSchema>;
