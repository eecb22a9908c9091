// Live job events: WebSocket GET /api/ws (subscribe to jobs, optional previews) and Server-Sent Events
// GET /api/job/:id/events (one job, ends after its terminal event). Both only fan out JobEvents.
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { z } from "zod";
import type { JobManager } from "../../core/engine/job-manager.js";
import { isTerminal } from "../../core/models.js";
import { AppError } from "../../errors.js";
import { parseOrThrow } from "../error-handler.js";
import { EventFanout, type StreamOptions } from "../event-fanout.js";
import { baseUrlOf } from "../job-view.js";
import { SseStream } from "../sse-stream.js";
import { WsSession } from "../ws-session.js";

export interface EventRouteOptions {
  jobs: JobManager;
  stream: StreamOptions;
  log: Logger;
  publicUrl?: string;
}

const IdParams = z.object({ id: z.string().min(1).max(200) });

export async function eventRoutes(app: FastifyInstance, o: EventRouteOptions): Promise<void> {
  const fanout = new EventFanout(o.jobs.events, o.log);
  const open = new Set<{ shutdown(): void }>();
  const track = (s: { shutdown(): void }, closed: NodeJS.EventEmitter) => {
    open.add(s);
    closed.once("close", () => open.delete(s));
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
      });
      track(session, socket);
    },
  });

  app.get("/api/job/:id/events", async (req, reply) => {
    const { id } = parseOrThrow(IdParams, req.params, "params");
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
    track(stream, reply.raw);
    stream.start();
  });
}
