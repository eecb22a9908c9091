// GET /metrics: Prometheus text format. Outside /api, where scrapers expect it.
import type { FastifyInstance } from "fastify";
import type { Metrics } from "../../metrics/metrics.js";

export async function metricsRoutes(app: FastifyInstance, o: { metrics: Metrics }): Promise<void> {
  app.get("/metrics", async (_req, reply) => {
    const text = await o.metrics.render();
    return reply.header("content-type", o.metrics.contentType).send(text);
  });
}
