// Liveness and a one-glance summary: ok (every enabled backend online), degraded, or down (no database).
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { JobManager } from "../../core/engine/job-manager.js";
import type { HostViews } from "../../core/fleet/host-views.js";
import { type StorageHealth, storageStateOf } from "../../core/storage/storage-health.js";
import { ErrorSchema } from "../schemas/common.js";
import { type Backend, HealthSchema } from "../schemas/fleet.js";

/** With replicas (PostgreSQL): which one answered, the hosts it drives, how many replicas are alive. */
export type ReplicaSummary = {
  id: string;
  drives: string[];
  replicas: number;
};

export async function healthRoutes(
  fastify: FastifyInstance,
  o: {
    auth: boolean;
    jobs: JobManager;
    hosts: HostViews;
    replica?: () => ReplicaSummary | null;
    version: string;
    startedAt: number;
    storage?: StorageHealth;
  },
): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const schema = {
    tags: ["health"],
    summary: "Health summary",
    description:
      "`ok` (every enabled backend online), `degraded`, or `down` (503: the database is locked, full or failing).",
    response: {
      200: HealthSchema.describe("`ok` or `degraded`"),
      503: z.union([HealthSchema, ErrorSchema]).describe("`down`, or shutting down"),
    },
  };
  // Public, for load balancers and probes: it reveals counts, never jobs.
  app.get("/api/health", { schema, config: { role: "public" } }, async (_req, reply) => {
    // Answers from what is known: a locked database or a full disk is found by the writes that fail and
    // cleared by the storage probe, never by a health check waiting on the lock.
    let database: "ok" | "locked" | "full" | "unreachable" | "error" = o.storage?.state ?? "ok";
    let counts = { queued: 0, running: 0, dispatching: 0, retrying: 0 };
    try {
      counts = o.jobs.counts();
    } catch (err) {
      database = storageStateOf(err) ?? "error";
    }
    let backends: Backend[] = [];
    let replica: ReplicaSummary | null = null;
    try {
      backends = o.hosts.all() as Backend[];
      replica = o.replica?.() ?? null;
    } catch (err) {
      database = storageStateOf(err) ?? "error";
    }
    const enabled = backends.filter((b) => b.enabled);
    const online = enabled.filter((b) => b.status === "online").length;
    const status: "ok" | "degraded" | "down" =
      database !== "ok" ? "down" : enabled.length > 0 && online === enabled.length ? "ok" : "degraded";
    return reply.code(status === "down" ? 503 : 200).send({
      status,
      version: o.version,
      uptime_s: Math.round((Date.now() - o.startedAt) / 1000),
      database,
      auth: o.auth ? ("on" as const) : ("off" as const),
      backends: { online, total: backends.length, enabled: enabled.length },
      jobs: { queued: counts.queued + counts.retrying, running: counts.running + counts.dispatching },
      ...(replica ? { replica } : {}),
    });
  });
}
