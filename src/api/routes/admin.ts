// Operator actions on the server itself: re-read config.yaml (what SIGHUP does).
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { ConfigReloader } from "../../core/fleet/config-reload.js";
import { errorResponses } from "../schemas/common.js";
import { ReloadResultSchema } from "../schemas/fleet.js";

export async function adminRoutes(fastify: FastifyInstance, o: { reloader: ConfigReloader }): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  app.post(
    "/api/admin/reload",
    {
      config: { role: "admin" },
      schema: {
        tags: ["admin"],
        summary: "Re-read config.yaml (like SIGHUP)",
        description:
          "Applies the hosts added, removed (drained first) and changed, and log_level, without dropping a job " +
          "or a connection. A bad file is refused with the messages start-up would print; the running config stays.",
        response: {
          200: ReloadResultSchema.describe("What changed"),
          ...errorResponses("CONFIG_INVALID"),
        },
      },
    },
    async () => ({ ...o.reloader.reload("api") }),
  );
}
