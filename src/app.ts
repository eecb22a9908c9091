// The composition root: builds every part from the config and wires them by constructor arguments.
// main.ts runs it as a process; tests run it in-process on port 0.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import os from "node:os";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { KeyRegistry } from "./api/auth/key-registry.js";
import { RateLimiter } from "./api/auth/rate-limiter.js";
import { jobView } from "./api/job-view.js";
import { buildServer } from "./api/server.js";
import { serverSettings } from "./api/server-settings.js";
import type { BackendMonitor } from "./backends/monitor.js";
import type { Config } from "./config.js";
import { dispatchPlanning } from "./core/engine/dispatch-planning.js";
import { JobEvents } from "./core/engine/events.js";
import { JobManager } from "./core/engine/job-manager.js";
import { jobSettings } from "./core/engine/job-settings.js";
import { QueueSync } from "./core/engine/queue-sync.js";
import { Scheduler } from "./core/engine/scheduler.js";
import { Warmups } from "./core/engine/warmup.js";
import { BackendStore } from "./core/fleet/backend-store.js";
import { ConfigReloader } from "./core/fleet/config-reload.js";
import { Fleet } from "./core/fleet/fleet.js";
import type { HostDriving } from "./core/fleet/host-driving.js";
import { hostDriving } from "./core/fleet/host-handover.js";
import { HostStateBoard } from "./core/fleet/host-state.js";
import { HostViews } from "./core/fleet/host-views.js";
import { clientIdOf, monitorFactory } from "./core/fleet/monitor-factory.js";
import { openDatabase } from "./core/storage/database.js";
import { SharedEventLog } from "./core/storage/event-log.js";
import { ExclusiveTask } from "./core/storage/exclusive-task.js";
import { FileStore } from "./core/storage/file-store.js";
import { acquireInstanceLock, type InstanceLock } from "./core/storage/instance-lock.js";
import { JobStore } from "./core/storage/job-store.js";
import { KeyStore } from "./core/storage/key-store.js";
import { PgListener } from "./core/storage/pg-listener.js";
import type { PgSyncDatabase } from "./core/storage/pg-sync.js";
import { OutputRetention } from "./core/storage/retention.js";
import type { SqlDatabase } from "./core/storage/sql.js";
import { StorageHealth } from "./core/storage/storage-health.js";
import { WebhookStore } from "./core/storage/webhook-store.js";
import { WorkflowStorage } from "./core/storage/workflow-storage.js";
import { WebhookDispatcher } from "./core/webhooks/webhook-dispatcher.js";
import { WebhookPolicy } from "./core/webhooks/webhook-policy.js";
import { FleetMetrics } from "./metrics/fleet-metrics.js";
import { JobMetrics } from "./metrics/job-metrics.js";
import { Metrics } from "./metrics/metrics.js";

export const VERSION: string = JSON.parse(
  readFileSync(new URL("../package.json", import.meta.url), "utf8"),
).version;

/** How long requests in flight get to finish once shutdown begins. */
const SHUTDOWN_BOUND_MS = 10_000;

export class Orchestrator {
  readonly db: SqlDatabase;
  private readonly lock: InstanceLock;
  readonly store: JobStore;
  readonly storage: StorageHealth;
  readonly workflows: WorkflowStorage;
  readonly scheduler: Scheduler;
  readonly files: FileStore;
  readonly events = new JobEvents();
  readonly jobs: JobManager;
  readonly fleet: Fleet;
  readonly warmups: Warmups;
  readonly reloader: ConfigReloader;
  readonly webhooks: WebhookDispatcher;
  readonly retention: OutputRetention;
  readonly keys: KeyRegistry;
  readonly metrics = new Metrics();
  /** PostgreSQL only: hears what other replicas announce (README: Running several replicas). */
  private readonly listener: PgListener | null = null;
  private readonly queueSync: QueueSync | null = null;
  /** ha.replica_id: this server's name in host leases and /api/health. */
  readonly replicaId: string;
  /** Which hosts this server drives: all (SQLite), or those whose lease it holds (PostgreSQL). */
  readonly driving: HostDriving;
  readonly hosts: HostViews;
  private readonly eventLog: SharedEventLog | null = null;
  private readonly jobMetrics: JobMetrics;
  private server: FastifyInstance | null = null;
  private readonly draining = new AbortController();
  private stopped = false;

  constructor(
    readonly config: Config,
    readonly log: Logger,
    /** The file `config` came from, re-read on SIGHUP and POST /api/admin/reload. */
    configFile: string | null = null,
  ) {
    // One server per SQLite file; on PostgreSQL, replicas share the database by design (README: replicas).
    this.lock = config.database_url ? { release: () => {} } : acquireInstanceLock(config.database_path);
    try {
      this.db = openDatabase(
        config.database_path,
        config.database_url
          ? { url: config.database_url, timeoutMs: config.ha.statement_timeout_s * 1000 }
          : undefined,
      );
    } catch (err) {
      this.lock.release();
      throw err;
    }
    this.store = new JobStore(this.db);
    this.keys = new KeyRegistry(config.auth, new KeyStore(this.db));
    this.storage = new StorageHealth(this.db, log);
    const instanceId = this.persistentId("instance_id", () => randomUUID());
    this.workflows = new WorkflowStorage(config.workflows_dir!, log);
    this.files = new FileStore(config.data_dir);
    this.replicaId = config.ha.replica_id ?? `${os.hostname()}-${process.pid}`;
    const pg = this.db.engine === "postgres" ? (this.db as PgSyncDatabase) : null;
    this.scheduler = new Scheduler(config.scheduler.max_inflight, log, pg !== null);
    const planning = dispatchPlanning({
      config: config.scheduler,
      db: this.db,
      scheduler: this.scheduler,
      jobOf: (id) => this.store.get(id),
      countOf: (key, limit) => this.store.queue.count(key, limit),
      onModelLoad: (backend) => this.metrics.hostModelLoads.inc({ backend }),
      onSaveError: (err) => {
        if (!this.storage.report(err)) log.warn({ err }, "could not store a host speed sample");
      },
      log,
    });
    this.jobs = new JobManager(
      this.store,
      this.workflows,
      this.scheduler,
      this.files,
      this.events,
      {
        ...jobSettings(config),
        instanceId,
        holdsHost: (backendId) => this.driving.confirm(backendId),
        storage: this.storage,
      },
      log,
      planning.planner,
    );
    if (config.database_url) {
      this.listener = new PgListener(config.database_url, log);
      const eventLog = new SharedEventLog(this.events, this.listener, this.db, log, {
        url: config.database_url,
      });
      this.eventLog = eventLog;
      const rescanMs = config.scheduler.poll_interval_s * 1000;
      this.queueSync = new QueueSync(this.listener, this.jobs, rescanMs, (channel, payload) =>
        eventLog.notifyAfterEvents(channel, payload),
      );
    }
    this.webhooks = new WebhookDispatcher(
      this.store,
      new WebhookStore(this.db),
      this.events,
      new WebhookPolicy(config.webhooks.allowed_hosts),
      {
        secret: config.webhooks.secret,
        maxAttempts: config.webhooks.max_attempts,
        backoffS: config.webhooks.backoff_s,
        timeoutS: config.webhooks.timeout_s,
        userAgent: `orchestrator/${VERSION}`,
        idlePollMs: config.database_url ? 5_000 : undefined,
        onResult: (result) => this.metrics.webhookDeliveries.inc({ result }),
      },
      log,
    );
    this.retention = new OutputRetention(
      this.store,
      this.files,
      new ExclusiveTask(this.db, "retention"),
      {
        outputRetentionDays: config.retention.output_retention_days,
        sweepIntervalS: config.retention.sweep_interval_s,
      },
      log,
    );
    this.warmups = new Warmups(
      this.workflows,
      this.scheduler,
      {
        instanceId,
        onResult: (backend, ok) => {
          this.metrics.warmups.inc({ backend, result: ok ? "completed" : "failed" });
          this.jobs.kick();
        },
      },
      log,
    );
    const board = pg ? new HostStateBoard(pg, this.replicaId) : null;
    this.hosts = new HostViews(
      this.scheduler,
      this.replicaId,
      () => this.driving.holders(),
      (id) => this.jobs.hostModel(id),
      board,
    );
    const persistentId = (key: string, make: () => string) => this.persistentId(key, make);
    const watchAs = pg ? this.replicaId : null;
    this.fleet = new Fleet(
      new BackendStore(this.db),
      this.scheduler,
      this.jobs,
      this.events,
      monitorFactory({
        config,
        instanceId,
        persistentId,
        log,
        watchAs,
      }),
      {
        onAdd: (m) => {
          planning.join(m);
          if (board) m.on("polled", () => this.publishHost(m));
        },
        onJoin: (m) => this.warmups.watch(m),
        onLeave: (id) => {
          planning.leave(id);
          this.warmups.forget(id);
          void this.metrics.forgetBackend(id);
        },
      },
      log,
    );
    this.fleet.load(config.backends);
    this.driving = hostDriving(
      pg,
      { replicaId: this.replicaId, log },
      {
        scheduler: this.scheduler,
        fleet: this.fleet,
        jobs: this.jobs,
        speed: planning.speed,
        warmups: this.warmups,
        views: this.hosts,
        clientId: (id, driving) => clientIdOf({ persistentId }, id, driving ? null : watchAs),
        storage: this.storage,
        leaseMs: config.ha.lease_s * 1000,
      },
    );
    const described = this.scheduler.describeExtra;
    this.scheduler.describeExtra = (id) => ({ ...described(id), warmup: this.warmups.statusOf(id) });
    this.reloader = new ConfigReloader(configFile, config, this.fleet, log);
    this.jobMetrics = new JobMetrics(this.db, this.events, this.metrics);
    new FleetMetrics(this.scheduler, this.metrics);
    this.jobs.observer = {
      promptSent: (backend, seconds) => this.metrics.dispatchLatency.observe({ backend }, seconds),
    };
  }

  /** Loads workflows, connects to backends, re-attaches to running jobs, then listens. */
  async start(): Promise<{ url: string }> {
    this.jobMetrics.start();
    this.workflows.start({ watch: true });
    this.fleet.start();
    // Listening before the queue is read: work another replica queues meanwhile is heard, not missed.
    await this.listener?.start();
    this.eventLog?.start();
    // Recovery first for the hosts driven from the start (all, on SQLite), then per host as leases are taken.
    this.jobs.start((backendId) => this.driving.undriven(backendId));
    this.queueSync?.start();
    this.server = await buildServer({
      log: this.log,
      jobs: this.jobs,
      scheduler: this.scheduler,
      workflows: this.workflows,
      files: this.files,
      version: VERSION,
      ...serverSettings(this.config, this.metrics),
      webhooks: this.webhooks,
      retention: this.retention,
      draining: this.draining.signal,
      storage: this.storage,
      access: { keys: this.keys, limiter: new RateLimiter(), ownerOf: (id) => this.store.ownerOf(id) },
      metrics: this.metrics,
      fleet: this.fleet,
      reloader: this.reloader,
      hosts: this.hosts,
      replica: () =>
        this.driving.leased
          ? { id: this.replicaId, drives: this.driving.drives(), replicas: this.driving.liveReplicas() ?? 1 }
          : null,
    });
    const url = await this.server.listen({ host: this.config.server.host, port: this.config.server.port });
    this.driving.announce(this.config.server.public_url ?? url);
    // Leases are taken once start-up's long synchronous steps are over, so the first renewal is not late.
    this.driving.start();
    const base = this.webhookBaseUrl();
    this.webhooks.start((job) =>
      JSON.stringify(jobView(job, base, { attempts: this.store.attempts(job.id) })),
    );
    this.retention.start();
    if (!this.keys.enabled) {
      this.log.warn(
        "access control is off: anyone who can reach this port may submit, read every job and control hosts (set auth.keys)",
      );
    }
    this.log.info(
      {
        url,
        backends: this.scheduler.all().length,
        version: VERSION,
        auth: this.keys.enabled ? "on" : "off",
      },
      "orchestrator listening",
    );
    return { url };
  }

  /** Stops taking requests, detaches from running prompts (the next start re-attaches) and closes the database. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // New requests are refused and waiting ones answered first; a connection still busy after the bound
    // is cut, so shutdown always ends (README: Failures → Shutdown).
    this.draining.abort();
    const cut = setTimeout(() => this.server?.server.closeAllConnections(), SHUTDOWN_BOUND_MS);
    await this.server?.close();
    clearTimeout(cut);
    // Leases are renewed while requests drain, and handed back only once no prompt is followed here any more.
    this.driving.pause();
    await this.jobs.stop();
    this.queueSync?.stop();
    await this.eventLog?.stop();
    await this.listener?.stop();
    // After detaching from every prompt: the next driver may re-attach to them the moment the lease is free.
    this.driving.stop();
    this.jobMetrics.stop();
    await this.webhooks.stop();
    await this.retention.stop();
    this.warmups.stop();
    await this.fleet.stop();
    this.workflows.close();
    this.storage.stop();
    this.db.close();
    this.lock.release();
  }

  /**
   * Base of the output URLs in webhook payloads, which have no request to take a host from: server.public_url,
   * else the listening address as configured (set public_url when listening on 0.0.0.0).
   */
  private webhookBaseUrl(): string {
    if (this.config.server.public_url) return this.config.server.public_url.replace(/\/$/, "");
    const address = this.server?.server.address();
    const port = address && typeof address === "object" ? address.port : this.config.server.port;
    const host = this.config.server.host;
    return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  }

  /** A driven host's view changed (seen at a poll): other replicas answer /api/backends from it. */
  private publishHost(m: BackendMonitor): void {
    try {
      this.hosts.publish(m);
    } catch (err) {
      if (!this.storage.report(err))
        this.log.warn({ err, backend_id: m.id }, "could not publish a host's state");
    }
  }

  private persistentId(key: string, make: () => string): string {
    // Replicas starting together must agree on one id: the first write wins, every one reads it back.
    return this.store.getMeta(key) ?? this.store.claimMeta(key, make());
  }
}
