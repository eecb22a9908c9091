// Builds the Fastify instance: error handling, body limits and the route groups. No job logic lives here.
import cors from "@fastify/cors";
import websocket from "@fastify/websocket";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from "fastify";
import type { Logger } from "pino";
import type { JobManager } from "../core/engine/job-manager.js";
import type { Scheduler } from "../core/engine/scheduler.js";
import type { ConfigReloader } from "../core/fleet/config-reload.js";
import type { Fleet } from "../core/fleet/fleet.js";
import type { HostViews } from "../core/fleet/host-views.js";
import { OutputVariants } from "../core/media/output-variants.js";
import type { FileStore } from "../core/storage/file-store.js";
import type { OutputRetention } from "../core/storage/retention.js";
import type { StorageHealth } from "../core/storage/storage-health.js";
import type { WorkflowStorage } from "../core/storage/workflow-storage.js";
import type { WebhookDispatcher } from "../core/webhooks/webhook-dispatcher.js";
import type { Metrics } from "../metrics/metrics.js";
import { type AccessDeps, installAccessControl } from "./auth/access-control.js";
import { corsOptions } from "./auth/cors-options.js";
import { redactUrl } from "./auth/credentials.js";
import { installRequestChecks, onClientError } from "./client-errors.js";
import { refuseWhileDraining } from "./draining.js";
import { errorBody, installErrorHandler } from "./error-handler.js";
import type { StreamOptions } from "./event-fanout.js";
import { registerOpenApi } from "./openapi.js";
import { installRequestContext, REQUEST_ID_LOG_LABEL, requestIdOptions } from "./request-context.js";
import { serializerCompiler, validatorCompiler } from "./route-compilers.js";
import { adminRoutes } from "./routes/admin.js";
import { backendRoutes } from "./routes/backends.js";
import { consoleRoutes } from "./routes/console.js";
import { eventRoutes } from "./routes/events.js";
import { fleetRoutes } from "./routes/fleet.js";
import { healthRoutes, type ReplicaSummary } from "./routes/health.js";
import { jobRoutes } from "./routes/jobs.js";
import { keyRoutes } from "./routes/keys.js";
import { metricsRoutes } from "./routes/metrics.js";
import { workflowRoutes } from "./routes/workflows.js";

export interface ServerDeps {
  log: Logger;
  jobs: JobManager;
  scheduler: Scheduler;
  workflows: WorkflowStorage;
  files: FileStore;
  version: string;
  bodyLimitBytes: number;
  /** Largest input image (media.max_image_mb), which bounds each multipart file part. */
  maxImageBytes: number;
  maxWaitS: number;
  listLimitMax: number;
  publicUrl?: string;
  webhooks: WebhookDispatcher;
  retention: OutputRetention;
  /** The database's write health: storage failures become 503 STORAGE_UNAVAILABLE. */
  storage?: StorageHealth;
  /** Aborted when shutdown begins: new requests get 503 SHUTTING_DOWN, waiting ones their answer. */
  draining?: AbortSignal;
  /** Live event streams (WebSocket and SSE): ping interval and per-client buffer limits. */
  eventStreams: StreamOptions;
  access: AccessDeps;
  /** server.cors_origins; empty: no CORS headers at all. */
  corsOrigins: string[];
  /** Prometheus metrics; GET /metrics is served when set. */
  metrics?: Metrics;
  /** Fleet changes while running (POST/PATCH/DELETE /api/backends) and config reloads. */
  fleet?: Fleet;
  reloader?: ConfigReloader;
  /** Each host as /api/backends shows it: the same on every replica (its driver's view). */
  hosts: HostViews;
  /** With replicas: this one's id, the hosts it drives and how many replicas are alive (null on SQLite). */
  replica?: () => ReplicaSummary | null;
  /** Converted outputs (?format=&width=&quality=); one cache per server by default. */
  variants?: OutputVariants;
}

export async function buildServer(d: ServerDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: d.log as unknown as FastifyBaseLogger,
    // Per-request info lines would drown the job events; requests are logged at debug by the hook below.
    logController: new LogController({
      disableRequestLogging: true,
      requestIdLogLabel: REQUEST_ID_LOG_LABEL,
    }),
    bodyLimit: d.bodyLimitBytes,
    // Output filenames carry a job id and a prefix; the default of 100 would answer long ones with a 414.
    routerOptions: { maxParamLength: 1000 },
    // Router-level errors (bad URL encoding, over-long parameters) get the same error body as everything else.
    frameworkErrors: (err, _req, reply) => {
      const raw = reply as unknown as { code(n: number): { send(body: unknown): void } };
      raw.code(err.statusCode ?? 400).send(errorBody("VALIDATION_FAILED", err.message, { field: "url" }));
    },
    clientErrorHandler: onClientError,
    // A missing Host is refused by our own hook, with a body (Node's refusal has none).
    http: { requireHostHeader: false },
    // Only idle sockets: requests in flight are answered first (waits end at once when draining starts).
    forceCloseConnections: "idle",
    // Our draining hook answers in the documented shape instead, from the moment shutdown begins.
    return503OnClosing: false,
    ...requestIdOptions,
  });
  installErrorHandler(app, (err) => d.storage?.toAppError(err) ?? null);
  installRequestChecks(app);
  if (d.draining) refuseWhileDraining(app, d.draining);
  // Route schemas are zod: requests are validated and responses encoded by their route's schemas.
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installRequestContext(app, d.metrics);
  app.addHook("onResponse", async (req, reply) => {
    req.log.debug(
      {
        method: req.method,
        url: redactUrl(req.url),
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
        key_id: req.principal?.id ?? undefined,
      },
      "request",
    );
  });
  // Before the routes: it wraps every route so that upgrade requests reach only WebSocket handlers.
  await app.register(websocket, {
    options: { maxPayload: 64 * 1024 },
    // The plugin's default closes sockets with no code; 1001 (going away) tells clients to reconnect later.
    preClose(done) {
      for (const client of this.websocketServer.clients) client.close(1001, "server shutting down");
      // Not waiting for the close handshakes: the events routes' own preClose cuts off clients that never answer.
      this.websocketServer.close();
      done();
    },
  });
  // After the websocket plugin, whose onRequest hook must have run for a refused upgrade's socket to be
  // closed. CORS first: a browser's preflight carries no key and must be answered before access control.
  if (d.corsOrigins.length > 0) await app.register(cors, corsOptions(d.corsOrigins));
  installAccessControl(app, d.access);
  await registerOpenApi(app, { version: d.version, workflows: d.workflows });
  await app.register(jobRoutes, {
    jobs: d.jobs,
    files: d.files,
    maxWaitS: d.maxWaitS,
    listLimitMax: d.listLimitMax,
    publicUrl: d.publicUrl,
    draining: d.draining,
    webhooks: d.webhooks,
    retention: d.retention,
    multipart: { maxImageBytes: d.maxImageBytes, maxBodyBytes: d.bodyLimitBytes, workflows: d.workflows },
    variants: d.variants ?? new OutputVariants(),
  });
  await app.register(eventRoutes, {
    jobs: d.jobs,
    access: d.access,
    stream: d.eventStreams,
    log: d.log,
    publicUrl: d.publicUrl,
  });
  await app.register(workflowRoutes, { workflows: d.workflows });
  await app.register(backendRoutes, {
    scheduler: d.scheduler,
    onChange: () => d.jobs.kick(),
    hosts: d.hosts,
  });
  await app.register(keyRoutes, { keys: d.access.keys });
  if (d.fleet)
    await app.register(fleetRoutes, {
      fleet: d.fleet,
      scheduler: d.scheduler,
      hosts: d.hosts,
    });
  if (d.reloader) await app.register(adminRoutes, { reloader: d.reloader });
  if (d.metrics) await app.register(metricsRoutes, { metrics: d.metrics });
  await app.register(healthRoutes, {
    auth: d.access.keys.enabled,
    storage: d.storage,
    jobs: d.jobs,
    hosts: d.hosts,
    replica: d.replica,
    version: d.version,
    startedAt: Date.now(),
  });
  await app.register(consoleRoutes);
  return app;
}
