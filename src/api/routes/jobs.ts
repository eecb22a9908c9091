// Job routes: submit (optionally waiting for the end), read, list, cancel, and download outputs.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { JobManager } from "../../core/engine/job-manager.js";
import { isTerminal, JOB_STATUSES, type Job, ManifestSchema, manifestToProject } from "../../core/models.js";
import type { FileStore } from "../../core/storage/file-store.js";
import type { OutputRetention } from "../../core/storage/retention.js";
import type { WebhookDispatcher } from "../../core/webhooks/webhook-dispatcher.js";
import { AppError } from "../../errors.js";
import { parseByteRange } from "../byte-range.js";
import { parseOrThrow } from "../error-handler.js";
import { baseUrlOf, jobView } from "../job-view.js";
import {
  type MultipartSubmitOptions,
  manifestFromMultipart,
  registerMultipart,
} from "../multipart-manifest.js";

export interface JobRouteOptions {
  jobs: JobManager;
  files: FileStore;
  maxWaitS: number;
  listLimitMax: number;
  publicUrl?: string;
  webhooks: WebhookDispatcher;
  retention: OutputRetention;
  multipart: MultipartSubmitOptions;
}

const IdParams = z.object({ id: z.string().min(1).max(200) });
const SubmitQuery = z.object({ wait: z.coerce.number().min(0).optional() });
const JobQuery = z.object({ include: z.string().optional() });
const StatusList = z
  .string()
  .transform((s) =>
    s
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.enum(JOB_STATUSES)));

export async function jobRoutes(app: FastifyInstance, o: JobRouteOptions): Promise<void> {
  const ListQuery = z.strictObject({
    status: StatusList.optional(),
    workflow_id: z.string().optional(),
    limit: z.coerce.number().int().min(1).max(o.listLimitMax).default(50),
    cursor: z
      .string()
      .regex(/^\d+$/, "expected the next_cursor of a previous page")
      .transform(Number)
      .optional(),
  });
  const base = (req: Parameters<typeof baseUrlOf>[0]) => baseUrlOf(req, o.publicUrl);
  await registerMultipart(app, o.multipart);

  app.post("/api/job", async (req, reply) => {
    const query = parseOrThrow(SubmitQuery, req.query, "query");
    const body = req.isMultipart() ? await manifestFromMultipart(req, o.multipart) : req.body;
    if (body === undefined || body === null || typeof body !== "object" || Array.isArray(body)) {
      throw new AppError("VALIDATION_FAILED", "The body must be a JSON object (a job manifest)", {
        fields: [{ field: "body", message: "expected a JSON object" }],
      });
    }
    const manifest = parseOrThrow(ManifestSchema, body, "");
    if (manifest.webhook_url) o.webhooks.assertAllowed(manifest.webhook_url);
    const header = req.headers["idempotency-key"];
    const key = typeof header === "string" && header ? header : undefined;
    const { job, created } = await o.jobs.submit(manifestToProject(manifest), key);
    const wait = Math.min(query.wait ?? 0, o.maxWaitS);
    if (wait > 0) {
      // reply.raw, not req.raw: a request emits "close" as soon as its body is read.
      const finished = await waitForEnd(o.jobs, job.id, wait * 1000, reply.raw);
      if (isTerminal(finished.status))
        return reply.code(200).send(jobView(finished, base(req), { attempts: o.jobs.attempts(job.id) }));
      return reply
        .code(202)
        .send({ ...jobView(finished, base(req)), message: `Job still ${finished.status} after ${wait} s` });
    }
    return reply.code(created ? 202 : 200).send({
      job_id: job.id,
      status: job.status,
      message: created ? "Job queued for execution" : "A job with this idempotency key already exists",
      created,
      url: `${base(req)}/api/job/${job.id}`,
    });
  });

  app.get("/api/job/:id", async (req) => {
    const { id } = parseOrThrow(IdParams, req.params, "params");
    const { include } = parseOrThrow(JobQuery, req.query, "query");
    const job = o.jobs.get(id);
    return jobView(job, base(req), {
      attempts: o.jobs.attempts(id),
      graph: include?.split(",").includes("graph"),
      webhook: o.webhooks.statusOf(job),
    });
  });

  app.get("/api/jobs", async (req) => {
    const q = parseOrThrow(ListQuery, req.query, "query");
    const page = o.jobs.list({
      statuses: q.status,
      workflow_id: q.workflow_id,
      limit: q.limit,
      cursor: q.cursor,
    });
    return { jobs: page.jobs.map((j) => jobView(j, base(req))), next_cursor: page.next_cursor };
  });

  const cancel = async (req: { params: unknown }) => {
    const { id } = parseOrThrow(IdParams, req.params, "params");
    return o.jobs.cancel(id);
  };
  app.delete("/api/job/:id", async (req) => jobView(await cancel(req), base(req)));
  app.post("/api/job/:id/cancel", async (req) => jobView(await cancel(req), base(req)));

  // Frees a finished job's files before the retention sweep would; downloads then answer 410.
  app.delete("/api/job/:id/outputs", async (req) => {
    const { id } = parseOrThrow(IdParams, req.params, "params");
    return jobView(await o.retention.freeOutputs(id), base(req));
  });

  app.get("/api/job/:id/outputs/:filename", async (req, reply) => {
    const { id, filename } = parseOrThrow(
      IdParams.extend({ filename: z.string().min(1) }),
      req.params,
      "params",
    );
    const job = o.jobs.get(id);
    if (job.outputs_expired)
      throw new AppError("OUTPUTS_EXPIRED", `The outputs of job ${id} were deleted`, { job_id: id });
    const output = job.outputs.find((x) => x.filename === filename);
    const file = output ? o.files.resolve("outputs", id, filename) : null;
    const st = file ? await stat(file).catch(() => null) : null;
    if (!output || !file || !st) {
      throw new AppError("OUTPUT_NOT_FOUND", `Job ${id} has no output "${filename}"`, {
        job_id: id,
        filename,
        available: job.outputs.map((x) => x.filename),
      });
    }
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
    reply.header("content-disposition", `inline; filename="${filename.replace(/"/g, "")}"`);
    if (range.kind === "partial") {
      reply.code(206).header("content-range", `bytes ${range.start}-${range.end}/${st.size}`);
      reply.header("content-length", range.end - range.start + 1);
      return reply.send(createReadStream(file, { start: range.start, end: range.end }));
    }
    reply.header("content-length", st.size);
    return reply.send(createReadStream(file));
  });
}

/** Resolves with the job once it ends, or after `ms`, or when the client goes away. */
function waitForEnd(jobs: JobManager, id: string, ms: number, raw: NodeJS.EventEmitter): Promise<Job> {
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      unsubscribe();
      raw.off("close", finish);
      resolve(jobs.get(id));
    };
    const unsubscribe = jobs.events.subscribe((e) => {
      if (
        e.job_id === id &&
        (e.type === "job.completed" || e.type === "job.failed" || e.type === "job.cancelled")
      )
        finish();
    });
    const timer = setTimeout(finish, ms);
    raw.once("close", finish);
    if (isTerminal(jobs.get(id).status)) finish();
  });
}
