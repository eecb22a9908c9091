// Builds the Fastify instance: error handling, body limits and the route groups. No job logic lives here.
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { JobManager } from "../core/engine/job-manager.js";
import type { Scheduler } from "../core/engine/scheduler.js";
import type { FileStore } from "../core/storage/file-store.js";
import type { WorkflowStorage } from "../core/storage/workflow-storage.js";
import { installErrorHandler } from "./error-handler.js";
import { backendRoutes } from "./routes/backends.js";
import { healthRoutes } from "./routes/health.js";
import { jobRoutes } from "./routes/jobs.js";
import { workflowRoutes } from "./routes/workflows.js";

export interface ServerDeps {
  log: Logger;
  jobs: JobManager;
  scheduler: Scheduler;
  workflows: WorkflowStorage;
  files: FileStore;
  version: string;
  bodyLimitBytes: number;
  maxWaitS: number;
  listLimitMax: number;
  publicUrl?: string;
}

export async function buildServer(d: ServerDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: d.log as unknown as FastifyBaseLogger,
    disableRequestLogging: true,
    bodyLimit: d.bodyLimitBytes,
    forceCloseConnections: true,
    return503OnClosing: true,
  });
  installErrorHandler(app);
  app.addHook("onResponse", async (req, reply) => {
    req.log.debug({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, "request");
  });
  await app.register(jobRoutes, { jobs: d.jobs, files: d.files, maxWaitS: d.maxWaitS, listLimitMax: d.listLimitMax, publicUrl: d.publicUrl });
  await app.register(workflowRoutes, { workflows: d.workflows });
  await app.register(backendRoutes, { scheduler: d.scheduler, onChange: () => d.jobs.kick() });
  await app.register(healthRoutes, { jobs: d.jobs, scheduler: d.scheduler, version: d.version, startedAt: Date.now() });
  return app;
}
