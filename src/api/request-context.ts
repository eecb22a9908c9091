// Every request gets an id: the client's X-Request-Id when it is a sane token, else a new UUID. It is on
// every log line the request writes (`request_id`) and returned as `x-request-id`. Requests are also
// counted for /metrics by route pattern, never by raw URL, so ids in paths cannot blow up the label set.
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { FastifyInstance } from "fastify";
import type { Metrics } from "../metrics/metrics.js";

const CLIENT_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The field every request's log lines carry its id in (Fastify's LogController option). */
export const REQUEST_ID_LOG_LABEL = "request_id";

/** Fastify constructor options for request ids. */
export const requestIdOptions = {
  requestIdHeader: false as const,
  genReqId: (req: IncomingMessage): string => {
    const given = req.headers["x-request-id"];
    return typeof given === "string" && CLIENT_ID.test(given) ? given : randomUUID();
  },
};

export function installRequestContext(app: FastifyInstance, metrics: Metrics | undefined): void {
  app.addHook("onRequest", async (req, reply) => {
    reply.header("x-request-id", req.id);
  });
  if (!metrics) return;
  app.addHook("onResponse", async (req, reply) => {
    // 404s have no pattern: one label for all of them.
    const route = req.routeOptions.url ?? "unmatched";
    const method = req.method;
    metrics.httpRequests.inc({ method, route, status: String(reply.statusCode) });
    metrics.httpDuration.observe({ method, route }, reply.elapsedTime / 1000);
  });
}
