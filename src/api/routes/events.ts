// Live job events: WebSocket GET /api/ws (subscribe to jobs, optional previews) and Server-Sent Events
// GET /api/job/:id/events (one job, ends after its terminal event). Both only fan out JobEvents.
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Logger } from "pino";
import { z } from "zod";
import type { JobManager } from "../../core/engine/job-manager.js";
import { isTerminal } from "../../core/models.js";
import { AppError } from "../../errors.js";
import type { AccessDeps } from "../auth/access-control.js";
import { presentedKey } from "../auth/credentials.js";
import { EventFanout, type StreamOptions } from "../event-fanout.js";
import { baseUrlOf } from "../job-view.js";
import { errorResponses, JobIdParams } from "../schemas/common.js";
import { JobEventSchema, WsServerMessageSchema } from "../schemas/events.js";
import { SseStream } from "../sse-stream.js";
import { WsSession } from "../ws-session.js";

export interface EventRouteOptions {
  jobs: JobManager;
  access: AccessDeps;
  stream: StreamOptions;
  log: Logger;
  publicUrl?: string;
}

const TAGS = ["events"];

export async function eventRoutes(fastify: FastifyInstance, o: EventRouteOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const fanout = new EventFanout(o.jobs.events, o.log);
  const open = new Set<{ shutdown(): void }>();
  const track = (s: { shutdown(): void }, closed: NodeJS.EventEmitter, transport: "ws" | "sse") => {
    open.add(s);
    o.stream.stats?.opened(transport);
    closed.once("close", () => {
      open.delete(s);
      o.stream.stats?.closed(transport);
    });
  };

  // Long-lived streams would otherwise hold fastify.close() open until each client hangs up.
  app.addHook("preClose", async () => {
    for (const s of open) s.shutdown();
    open.clear();
  });
  app.addHook("onClose", async () => fanout.close());

  app.route({
    method: "GET",
    url: "/api/ws",
    // Browsers cannot set headers on a WebSocket: without one the socket's first message must be `auth`.
    config: { role: "read", authMessage: true },
    schema: {
      tags: TAGS,
      summary: "Live events for many jobs (WebSocket)",
      description:
        "Upgrade to a WebSocket, then send JSON text messages (`WsClientMessage`): " +
        '`{"type":"subscribe","job_ids":[...]}` or `{"type":"subscribe","all":true}`, optionally ' +
        '`"previews":true`; `unsubscribe` likewise. Each subscription starts with a `job.snapshot` per job, then ' +
        "`subscribed`, then the jobs' events (`WsServerMessage`). Malformed messages get an `error` message; " +
        "the socket stays open. Slow readers are closed with 1008, shutdown closes with 1001.",
      response: {
        101: {
          description: "Switching Protocols; the messages the server then sends",
          content: { "application/json": { schema: WsServerMessageSchema } },
        },
        ...errorResponses("UPGRADE_REQUIRED"),
      },
    },
    handler: async () => {
      throw new AppError("UPGRADE_REQUIRED", "GET /api/ws needs a WebSocket upgrade", {
        expected_headers: { connection: "Upgrade", upgrade: "websocket" },
      });
    },
    wsHandler: (socket, req) => {
      const session = new WsSession(socket, {
        jobs: o.jobs,
        fanout,
        base: baseUrlOf(req, o.publicUrl),
        opts: o.stream,
        log: o.log,
        principal: req.principal,
        authenticate: (token) => {
          const found = presentedKey({ "x-api-key": token }, "", false);
          if (found.kind === "none") throw new AppError("UNAUTHENTICATED", "An API key is required");
          const p = o.access.keys.authenticate(found.token);
          const take = o.access.limiter.take(p.id!, p.rateLimitPerMin);
          if (!take.ok) throw new AppError("RATE_LIMITED", `API key "${p.id}" is over its rate limit`);
          return p;
        },
        ownerOf: (id) => o.access.ownerOf(id),
      });
      track(session, socket, "ws");
    },
  });

  const sseSchema = {
    tags: TAGS,
    summary: "Live events of one job (Server-Sent Events)",
    description:
      "`text/event-stream`: the job's `job.snapshot`, then its events, ending after the terminal one. Each " +
      "frame has `id:` (seq), `event:` (type) and `data:` (one `JobEvent` as JSON). A reconnect with " +
      "`Last-Event-ID` after the job ended gets 204, which stops an EventSource.",
    params: JobIdParams,
    headers: z.looseObject({ "last-event-id": z.string().optional() }),
    response: {
      200: {
        description: "The event stream; each `data:` is a JobEvent",
        content: { "text/event-stream": { schema: JobEventSchema } },
      },
      204: z.undefined().describe("The job has ended and the client is reconnecting"),
      ...errorResponses("JOB_NOT_FOUND"),
    },
  };
  // EventSource cannot send headers either, hence `?token=` here (README: what that costs).
  const sse = { role: "read" as const, jobParam: "id", tokenInQuery: true };
  app.get("/api/job/:id/events", { schema: sseSchema, config: sse }, async (req, reply) => {
    const { id } = req.params;
    // The snapshot must not be older than this replica's events still on their way to the global stream.
    if (!fanout.caughtUp) await new Promise<void>((resolve) => fanout.afterOwnEvents(resolve));
    const job = o.jobs.get(id);
    // An EventSource reconnects whenever a stream ends; 204 is the one answer that makes it stop.
    if (isTerminal(job.status) && req.headers["last-event-id"] !== undefined) return reply.code(204).send();
    reply.hijack();
    const stream = new SseStream(reply.raw, job, {
      fanout,
      base: baseUrlOf(req, o.publicUrl),
      opts: o.stream,
      log: o.log,
    });
    track(stream, reply.raw, "sse");
    stream.start();
  });
}
