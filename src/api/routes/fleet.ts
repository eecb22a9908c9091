// Changing the fleet while running: add a host, change its scheduling fields, remove it (drained first).
// The Fleet does the work and stores every change; see README, "Changing the fleet".
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { BackendConfigSchema } from "../../config.js";
import type { Scheduler } from "../../core/engine/scheduler.js";
import type { Fleet } from "../../core/fleet/fleet.js";
import { AppError } from "../../errors.js";
import { parseOrThrow } from "../error-handler.js";

const IdParams = z.object({ id: z.string().min(1).max(200) });

export const BackendPatchSchema = z.strictObject({
  name: z.string().min(1).optional(),
  capabilities: z.array(z.string().min(1)).optional(),
  weight: z.number().positive().optional(),
  /** null: back to the default (scheduler.max_inflight, or the config.yaml entry's value). */
  max_inflight: z.number().int().min(1).max(64).nullable().optional(),
  enabled: z.boolean().optional(),
});

/** The address is a host's identity: changing it is adding another host. */
const FIXED = ["id", "host", "port", "tls"] as const;

export async function fleetRoutes(
  app: FastifyInstance,
  o: { fleet: Fleet; scheduler: Scheduler },
): Promise<void> {
  app.get("/api/backends/:id", async (req) => {
    const { id } = parseOrThrow(IdParams, req.params, "params");
    return o.scheduler.describe(o.scheduler.get(id));
  });

  app.post("/api/backends", async (req, reply) => {
    const config = parseOrThrow(BackendConfigSchema, req.body ?? {}, "body");
    const m = o.fleet.add(config);
    return reply.code(201).send(o.scheduler.describe(m));
  });

  app.patch("/api/backends/:id", async (req) => {
    const { id } = parseOrThrow(IdParams, req.params, "params");
    const body = (req.body ?? {}) as Record<string, unknown>;
    const fixed = FIXED.filter((k) => typeof body === "object" && k in body);
    if (fixed.length) {
      const fields = fixed.map((k) => ({
        field: `body.${k}`,
        message: "cannot be changed: add a backend with the new address and delete this one",
      }));
      throw new AppError("VALIDATION_FAILED", `Invalid body: ${fixed.join(", ")} cannot be changed`, {
        fields,
      });
    }
    const patch = parseOrThrow(BackendPatchSchema, body, "body");
    return o.scheduler.describe(o.fleet.patch(id, patch));
  });

  app.delete("/api/backends/:id", async (req, reply) => {
    const { id } = parseOrThrow(IdParams, req.params, "params");
    const m = o.scheduler.get(id);
    const view = o.scheduler.describe(m);
    if (o.fleet.remove(id)) return reply.code(200).send({ ...view, state: "removed" });
    return reply.code(202).send(o.scheduler.describe(m));
  });
}
