// Backend status and runtime control (drain, enable, disable); the scheduler does the work.
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Scheduler } from "../../core/engine/scheduler.js";
import type { HostViews } from "../../core/fleet/host-views.js";
import { errorResponses } from "../schemas/common.js";
import { type Backend, BackendActionParams, BackendListSchema, BackendSchema } from "../schemas/fleet.js";

const TAGS = ["backends"];

export async function backendRoutes(
  fastify: FastifyInstance,
  o: { scheduler: Scheduler; onChange: () => void; hosts: HostViews },
): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const describe = (m: Parameters<Scheduler["describe"]>[0]) => o.hosts.one(m) as Backend;
  app.get(
    "/api/backends",
    {
      config: { role: "read" },
      schema: {
        tags: TAGS,
        summary: "List backends",
        description:
          "Every configured ComfyUI host: status, queue, VRAM, counters. With replicas, each host as the replica " +
          "driving it (`driven_by`) sees it, so every replica gives the same answer.",
        response: { 200: BackendListSchema.describe("Every backend"), ...errorResponses() },
      },
    },
    async () => ({ backends: o.hosts.all() as Backend[] }),
  );

  app.post(
    "/api/backends/:id/:action",
    {
      config: { role: "admin" },
      schema: {
        tags: TAGS,
        summary: "Drain, enable, disable or refresh a backend",
        params: BackendActionParams,
        response: {
          200: BackendSchema.describe("The backend after the action"),
          ...errorResponses("BACKEND_NOT_FOUND", "BACKEND_REMOVING"),
        },
      },
    },
    async (req) => {
      const { id, action } = req.params;
      const m = o.scheduler.get(id);
      if (action === "drain") o.scheduler.drain(id);
      else if (action === "refresh") m.refreshObjectInfo();
      else o.scheduler.setEnabled(id, action === "enable");
      o.onChange();
      return describe(m);
    },
  );
}
