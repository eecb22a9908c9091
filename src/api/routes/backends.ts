// Backend status and runtime control (drain, enable, disable); the scheduler does the work.
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { Scheduler } from "../../core/engine/scheduler.js";
import { parseOrThrow } from "../error-handler.js";

export async function backendRoutes(
  app: FastifyInstance,
  o: { scheduler: Scheduler; onChange: () => void },
): Promise<void> {
  app.get("/api/backends", async () => ({ backends: o.scheduler.all().map((m) => o.scheduler.describe(m)) }));

  const Params = z.object({
    id: z.string().min(1),
    action: z.enum(["drain", "enable", "disable", "refresh"]),
  });
  app.post("/api/backends/:id/:action", async (req) => {
    const { id, action } = parseOrThrow(Params, req.params, "params");
    const m = o.scheduler.get(id);
    if (action === "drain") o.scheduler.drain(id);
    else if (action === "refresh") m.refreshObjectInfo();
    else o.scheduler.setEnabled(id, action === "enable");
    o.onChange();
    return o.scheduler.describe(m);
  });
}
