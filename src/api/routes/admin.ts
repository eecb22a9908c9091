// Operator actions on the server itself: re-read config.yaml (what SIGHUP does).
import type { FastifyInstance } from "fastify";
import type { ConfigReloader } from "../../core/fleet/config-reload.js";

export async function adminRoutes(app: FastifyInstance, o: { reloader: ConfigReloader }): Promise<void> {
  app.post("/api/admin/reload", async () => o.reloader.reload("api"));
}
