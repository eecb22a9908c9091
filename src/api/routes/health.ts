// Liveness and a one-glance summary: ok (every enabled backend online), degraded, or down (no database).
import type { FastifyInstance } from "fastify";
import type { JobManager } from "../../core/engine/job-manager.js";
import type { Scheduler } from "../../core/engine/scheduler.js";

export async function healthRoutes(
  app: FastifyInstance,
  o: { jobs: JobManager; scheduler: Scheduler; version: string; startedAt: number },
): Promise<void> {
  app.get("/api/health", async (_req, reply) => {
    let database = true;
    let counts = { queued: 0, running: 0, dispatching: 0, retrying: 0 };
    try {
      counts = o.jobs.counts();
    } catch {
      database = false;
    }
    const backends = o.scheduler.all().map((m) => o.scheduler.describe(m));
    const enabled = backends.filter((b) => b.enabled);
    const online = enabled.filter((b) => b.status === "online").length;
    const status = !database ? "down" : enabled.length > 0 && online === enabled.length ? "ok" : "degraded";
    return reply.code(status === "down" ? 503 : 200).send({
      status,
      version: o.version,
      uptime_s: Math.round((Date.now() - o.startedAt) / 1000),
      database: database ? "ok" : "error",
      backends: { online, total: backends.length, enabled: enabled.length },
      jobs: { queued: counts.queued + counts.retrying, running: counts.running + counts.dispatching },
    });
  });
}
