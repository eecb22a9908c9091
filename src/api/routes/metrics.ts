// GET /metrics: Prometheus text format. Outside /api, where scrapers expect it.
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { Metrics } from "../../metrics/metrics.js";
import { errorResponses } from "../schemas/common.js";

const PrometheusTextSchema = z.string().meta({ description: "Prometheus text exposition format" });

export async function metricsRoutes(app: FastifyInstance, o: { metrics: Metrics }): Promise<void> {
  app.get(
    "/metrics",
    {
      // With access control on, a scraper sends a read key (Prometheus: `authorization: {credentials: KEY}`).
      config: { role: "read" },
      schema: {
        // For scrapers, not API clients: described in README, "Metrics", and kept out of /api/openapi.json.
        hide: true,
        tags: ["meta"],
        summary: "Prometheus metrics",
        description: "Text exposition format 0.0.4; every metric is listed in README, “Metrics”.",
        response: {
          200: {
            description: "Prometheus text",
            content: { "text/plain": { schema: PrometheusTextSchema } },
          },
          ...errorResponses(),
        },
      },
    },
    async (_req, reply) => {
      const text = await o.metrics.render();
      return reply.header("content-type", o.metrics.contentType).send(text);
    },
  );
}
