// Job routes: submit (optionally waiting for the end), read, list, cancel, and download outputs.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { JobManager } from "../../core/engine/job-manager.js";
import { type OutputVariants, VariantQuerySchema, variantOf } from "../../core/media/output-variants.js";
import { isTerminal, type Job, manifestToProject, projectManifestToProject } from "../../core/models.js";
import type { FileStore } from "../../core/storage/file-store.js";
import type { OutputRetention } from "../../core/storage/retention.js";
import type { WebhookDispatcher } from "../../core/webhooks/webhook-dispatcher.js";
import { AppError } from "../../errors.js";
import { OPEN, ownerFilter } from "../auth/principal.js";
import { parseByteRange } from "../byte-range.js";
import { baseUrlOf, jobView } from "../job-view.js";
import { encodeCursor } from "../list-cursor.js";
import {
  type MultipartSubmitOptions,
  manifestFromMultipart,
  registerMultipart,
} from "../multipart-manifest.js";
import { sendVariant } from "../output-variant-reply.js";
import { errorResponses, JobIdParams } from "../schemas/common.js";
import {
  BinarySchema,
  JobListSchema,
  JobQuery,
  JobStillRunningSchema,
  JobViewSchema,
  listQuery,
  OutputParams,
  SubmitAcceptedSchema,
  SubmitBodySchema,
  SubmitQuery,
} from "../schemas/jobs.js";

export interface JobRouteOptions {
  /** Aborted when the server starts shutting down: waiting requests are answered at once. */
  draining?: AbortSignal;
  jobs: JobManager;
  files: FileStore;
  maxWaitS: number;
  listLimitMax: number;
  publicUrl?: string;
  webhooks: WebhookDispatcher;
  retention: OutputRetention;
  multipart: MultipartSubmitOptions;
  variants: OutputVariants;
}

const TAGS = ["jobs"];
/** Access: who may call each route (see auth/access-control.ts); `jobParam` hides other keys' jobs. */
const SUBMIT = { role: "submit" as const };
const OWN_JOB = { role: "submit" as const, jobParam: "id" };
const READ_JOB = { role: "read" as const, jobParam: "id" };

export async function jobRoutes(fastify: FastifyInstance, o: JobRouteOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const base = (req: Parameters<typeof baseUrlOf>[0]) => baseUrlOf(req, o.publicUrl);
  await registerMultipart(app, o.multipart);

  app.post(
    "/api/job",
    {
      config: SUBMIT,
      schema: {
        tags: TAGS,
        summary: "Submit a job",
        description:
          "JSON manifest, or `multipart/form-data` with a `manifest` part plus one file part per image " +
          "parameter (named after it). Answers 202 at once; with `?wait=SECONDS` it holds the request until the " +
          "job ends (200 with the finished job) or the wait runs out (202 with its current state). An " +
          "`Idempotency-Key` header (or `idempotency_key`) repeated within 24 h returns the first job with 200.",
        querystring: SubmitQuery,
        headers: z.looseObject({
          "idempotency-key": z
            .string()
            .optional()
            .meta({ description: "Same as the manifest's idempotency_key" }),
        }),
        body: SubmitBodySchema,
        response: {
          200: z
            .union([JobViewSchema, SubmitAcceptedSchema])
            .describe("The finished job (`?wait`), or the existing job of a repeated idempotency key"),
          202: z
            .union([SubmitAcceptedSchema, JobStillRunningSchema])
            .describe("Queued (or still running after `?wait`)"),
          ...errorResponses(
            "MALFORMED_JSON",
            "PARAMETER_INVALID",
            "MEDIA_INVALID",
            "WORKFLOW_NOT_FOUND",
            "WORKFLOW_INVALID",
            "PAYLOAD_TOO_LARGE",
            "UNSUPPORTED_MEDIA_TYPE",
            "NO_CAPABLE_BACKEND",
            "QUOTA_EXCEEDED",
            "RATE_LIMITED",
          ),
        },
      },
      // A multipart body becomes the same manifest object before validation, so both kinds of submit
      // meet one schema.
      preValidation: async (req) => {
        if (req.isMultipart()) req.body = (await manifestFromMultipart(req, o.multipart)) as typeof req.body;
      },
    },
    async (req, reply) => {
      const manifest = req.body;
      if (manifest.webhook_url) o.webhooks.assertAllowed(manifest.webhook_url);
      const key = req.headers["idempotency-key"] || undefined;
      const who = req.principal ?? OPEN;
      const submitter = { id: who.id, maxQueued: who.maxQueued };
      // With `project`: a graph of nodes; without: the single-workflow manifest, a project of one node.
      const { job, created } =
        "project" in manifest
          ? await o.jobs.submit(projectManifestToProject(manifest), key, submitter, "project")
          : await o.jobs.submit(manifestToProject(manifest), key, submitter, "manifest");
      const wait = Math.min(req.query.wait ?? 0, o.maxWaitS);
      if (wait > 0) {
        // reply.raw, not req.raw: a request emits "close" as soon as its body is read.
        const finished = await waitForEnd(o.jobs, job.id, wait * 1000, reply.raw, o.draining);
        if (isTerminal(finished.status))
          return reply.code(200).send(jobView(finished, base(req), { attempts: o.jobs.attempts(job.id) }));
        const message = o.draining?.aborted
          ? `Job still ${finished.status}: the server is shutting down (the job is kept and resumes after the restart)`
          : `Job still ${finished.status} after ${wait} s`;
        return reply.code(202).send({ ...jobView(finished, base(req)), message });
      }
      return reply.code(created ? 202 : 200).send({
        job_id: job.id,
        status: job.status,
        message: created ? "Job queued for execution" : "A job with this idempotency key already exists",
        created,
        url: `${base(req)}/api/job/${job.id}`,
      });
    },
  );

  app.get(
    "/api/job/:id",
    {
      config: READ_JOB,
      schema: {
        tags: TAGS,
        summary: "Read a job",
        description: "State, progress, outputs (with absolute URLs), attempts and webhook delivery.",
        params: JobIdParams,
        querystring: JobQuery,
        response: { 200: JobViewSchema.describe("The job"), ...errorResponses("JOB_NOT_FOUND") },
      },
    },
    async (req) => {
      const { id } = req.params;
      const job = o.jobs.get(id);
      const scheduling = o.jobs.waitingReason(job);
      return {
        ...jobView(job, base(req), {
          attempts: o.jobs.attempts(id),
          graph: req.query.include?.split(",").includes("graph"),
          webhook: o.webhooks.statusOf(job),
        }),
        ...(scheduling ? { scheduling } : {}),
      };
    },
  );

  app.get(
    "/api/jobs",
    {
      config: { role: "read" },
      schema: {
        tags: TAGS,
        summary: "List jobs",
        description: "Newest first, cursor-paginated. A key that is not `admin` sees only its own jobs.",
        querystring: listQuery(o.listLimitMax),
        response: { 200: JobListSchema.describe("One page of jobs"), ...errorResponses() },
      },
    },
    async (req) => {
      const q = req.query;
      const page = o.jobs.list({
        owner: ownerFilter(req.principal ?? OPEN),
        statuses: q.status,
        workflow_id: q.workflow_id,
        limit: q.limit,
        cursor: q.cursor,
      });
      const next = page.next_cursor === null ? null : encodeCursor(Number(page.next_cursor));
      return { jobs: page.jobs.map((j) => jobView(j, base(req))), next_cursor: next };
    },
  );

  const cancelSchema = (summary: string) => ({
    tags: TAGS,
    summary,
    description:
      "Queued: cancelled at once; waiting on a host: removed from its queue; running: interrupted. Repeating " +
      "is harmless (200, same state); a job that already ended answers 409 `JOB_FINISHED`.",
    params: JobIdParams,
    response: {
      200: JobViewSchema.describe("The job, cancelled"),
      ...errorResponses("JOB_NOT_FOUND", "JOB_FINISHED"),
    },
  });
  app.delete("/api/job/:id", { config: OWN_JOB, schema: cancelSchema("Cancel a job") }, async (req) =>
    jobView(await o.jobs.cancel(req.params.id), base(req)),
  );
  app.post(
    "/api/job/:id/cancel",
    { config: OWN_JOB, schema: cancelSchema("Cancel a job (POST form)") },
    async (req) => jobView(await o.jobs.cancel(req.params.id), base(req)),
  );

  // Frees a finished job's files before the retention sweep would; downloads then answer 410.
  app.delete(
    "/api/job/:id/outputs",
    {
      config: OWN_JOB,
      schema: {
        tags: TAGS,
        summary: "Delete a finished job's output files now",
        params: JobIdParams,
        response: {
          200: JobViewSchema.describe("The job, outputs_expired"),
          ...errorResponses("JOB_NOT_FOUND", "JOB_NOT_FINISHED"),
        },
      },
    },
    async (req) => jobView(await o.retention.freeOutputs(req.params.id), base(req)),
  );

  app.get(
    "/api/job/:id/outputs/:filename",
    {
      config: READ_JOB,
      schema: {
        tags: TAGS,
        summary: "Download an output",
        description:
          "The bytes exactly as ComfyUI produced them, with their content type and an `etag` (sha256). " +
          "`Range` and `If-Range` are supported. With `format`, `width` or `quality`, a converted copy " +
          "instead (see README, “Output formats”), made once and cached; the original is never changed.",
        params: OutputParams,
        querystring: VariantQuerySchema,
        response: {
          200: { description: "The file", content: { "application/octet-stream": { schema: BinarySchema } } },
          206: {
            description: "The requested range",
            content: { "application/octet-stream": { schema: BinarySchema } },
          },
          ...errorResponses(
            "JOB_NOT_FOUND",
            "OUTPUT_NOT_FOUND",
            "OUTPUTS_EXPIRED",
            "RANGE_NOT_SATISFIABLE",
            "OUTPUT_NOT_CONVERTIBLE",
          ),
        },
      },
    },
    async (req, reply) => {
      const { id, filename } = req.params;
      const job = o.jobs.get(id);
      if (job.outputs_expired)
        throw new AppError("OUTPUTS_EXPIRED", `The outputs of job ${id} were deleted`, { job_id: id });
      const output = job.outputs.find((x) => x.filename === filename);
      // A project's outputs live in the folder of the run that made them.
      const file = output ? o.files.resolve("outputs", output.run_id ?? id, filename) : null;
      const st = file ? await stat(file).catch(() => null) : null;
      if (!output || !file || !st) {
        throw new AppError("OUTPUT_NOT_FOUND", `Job ${id} has no output "${filename}"`, {
          job_id: id,
          filename,
          available: job.outputs.map((x) => x.filename),
        });
      }
      const variant = variantOf(req.query, output);
      if (variant) return sendVariant(reply, o.variants, file, output, variant, contentDisposition);
      const etag = `"${output.sha256}"`;
      // An If-Range naming another version of the file asks for all of it.
      const stale = req.headers["if-range"] !== undefined && req.headers["if-range"] !== etag;
      const range = stale ? { kind: "full" as const } : parseByteRange(req.headers.range, st.size);
      reply.header("accept-ranges", "bytes");
      if (range.kind === "unsatisfiable") {
        reply.header("content-range", `bytes */${st.size}`);
        const message = `Range "${req.headers.range}" is outside the ${st.size} bytes of "${filename}"`;
        throw new AppError("RANGE_NOT_SATISFIABLE", message, {
          field: "range",
          range: req.headers.range,
          size: st.size,
        });
      }
      reply.header("etag", etag);
      reply.header("cache-control", "private, max-age=31536000, immutable");
      reply.header("content-type", output.content_type);
      reply.header("content-disposition", contentDisposition(filename));
      if (range.kind === "partial") {
        reply.code(206).header("content-range", `bytes ${range.start}-${range.end}/${st.size}`);
        reply.header("content-length", range.end - range.start + 1);
        return reply.send(createReadStream(file, { start: range.start, end: range.end }));
      }
      reply.header("content-length", st.size);
      return reply.send(createReadStream(file));
    },
  );
}

/**
 * RFC 6266: an ASCII `filename` for old clients (non-ASCII, quotes and backslashes replaced) and the exact
 * name in RFC 5987 `filename*`, since a header cannot carry raw non-ASCII names.
 */
export function contentDisposition(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, "_");
  const exact = encodeURIComponent(filename).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `inline; filename="${ascii}"; filename*=UTF-8''${exact}`;
}

/** Resolves with the job once it ends, or after `ms`, or when the client goes away. */
function waitForEnd(
  jobs: JobManager,
  id: string,
  ms: number,
  raw: NodeJS.EventEmitter,
  draining?: AbortSignal,
): Promise<Job> {
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      unsubscribe();
      raw.off("close", finish);
      draining?.removeEventListener("abort", finish);
      resolve(jobs.get(id));
    };
    const unsubscribe = jobs.events.subscribeGlobal((e) => {
      if (
        e.job_id === id &&
        (e.type === "job.completed" || e.type === "job.failed" || e.type === "job.cancelled")
      )
        finish();
    });
    const timer = setTimeout(finish, ms);
    raw.once("close", finish);
    draining?.addEventListener("abort", finish, { once: true });
    if (isTerminal(jobs.get(id).status) || draining?.aborted) finish();
  });
}
