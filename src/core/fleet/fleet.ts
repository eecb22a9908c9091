// The set of hosts while running: added, changed and removed through the API or a config reload, with
// every change and every drain / enable / disable stored (backend-store.ts) so a restart keeps them. A
// removed host drains first: it takes no new work, its running jobs finish, then it is dropped.
import type { Logger } from "pino";
import type { BackendMonitor } from "../../backends/monitor.js";
import type { BackendConfig } from "../../config.js";
import { AppError } from "../../errors.js";
import type { JobEvents } from "../engine/events.js";
import type { JobManager } from "../engine/job-manager.js";
import type { Scheduler } from "../engine/scheduler.js";
import type { BackendOrigin, BackendRow, BackendStore } from "./backend-store.js";
import { configHash, type DesiredHost, mergeFleet } from "./fleet-merge.js";

/** Fields PATCH /api/backends/:id may change; the address is the host's identity. */
export interface BackendPatch {
  name?: string;
  capabilities?: string[];
  weight?: number;
  max_inflight?: number | null;
  enabled?: boolean;
}

export interface FleetHooks {
  /** A host joined the fleet (registered with the scheduler; its monitor may not have started yet). */
  onAdd(m: BackendMonitor): void;
  /** A host joined (at start or later) and was started. */
  onJoin(m: BackendMonitor): void;
  /** A host left the fleet for good. */
  onLeave(id: string): void;
}

export interface FleetChange {
  added: string[];
  removed: string[];
  changed: string[];
}

/** How often hosts being removed are checked for having drained, besides every job's end. */
const REMOVAL_CHECK_MS = 1000;
const ADDRESS_KEYS = ["host", "port", "tls"] as const;

export class Fleet {
  /** config.yaml's hosts as last loaded: API changes to them are tied to these entries. */
  private file = new Map<string, BackendConfig>();
  private readonly origins = new Map<string, BackendOrigin>();
  /** Hosts to add back under the same id once the old one has drained (its address changed). */
  private readonly replacements = new Map<string, DesiredHost>();
  private started = false;
  /** Set while a reload restores stored states: those are not new changes to persist. */
  private restoring = false;
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly store: BackendStore,
    private readonly scheduler: Scheduler,
    private readonly jobs: JobManager,
    private readonly events: JobEvents,
    private readonly newMonitor: (b: BackendConfig) => BackendMonitor,
    private readonly hooks: FleetHooks,
    private readonly log: Logger,
  ) {
    scheduler.onRuntimeChange = (id, state) => this.saveState(id, state);
    const previous = scheduler.describeExtra;
    scheduler.describeExtra = (id) => ({ ...previous(id), origin: this.originOf(id) });
  }

  /** Builds the fleet from config.yaml and the stored changes (hosts are started by start()). */
  load(file: readonly BackendConfig[]): FleetChange {
    return this.apply(file);
  }

  start(): void {
    this.started = true;
    for (const m of this.scheduler.all()) this.startMonitor(m);
    this.unsubscribe = this.events.subscribe((e) => {
      if (["job.completed", "job.failed", "job.cancelled", "job.retrying"].includes(e.type))
        this.checkRemovals();
    });
    // The first check waits for the timer: start-up recovery (right after this) must first count the
    // jobs still running on hosts being removed.
    this.timer = setInterval(() => this.checkRemovals(), REMOVAL_CHECK_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.started = false;
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
    await Promise.all(this.scheduler.all().map((m) => m.stop()));
  }

  originOf(id: string): BackendOrigin | null {
    return this.origins.get(id) ?? null;
  }

  /** POST /api/backends. */
  add(config: BackendConfig): BackendMonitor {
    if (this.origins.has(config.id) || this.file.has(config.id) || this.replacements.has(config.id)) {
      throw new AppError("BACKEND_EXISTS", `Backend "${config.id}" already exists`, {
        field: "id",
        backend_id: config.id,
      });
    }
    this.store.save({ ...emptyRow(config.id, "api"), definition: config });
    const m = this.join({ config, origin: "api", enabled: config.enabled, draining: false, removing: false });
    this.log.info({ backend_id: config.id, host: config.host, port: config.port }, "backend added");
    return m;
  }

  /** PATCH /api/backends/:id: scheduling fields change at once; running jobs are not touched. */
  patch(id: string, patch: BackendPatch): BackendMonitor {
    const m = this.scheduler.get(id);
    if (this.scheduler.isRemoving(id)) {
      throw new AppError("BACKEND_REMOVING", `Backend "${id}" is being removed`, { backend_id: id });
    }
    const { enabled, ...fields } = patch;
    const next = { ...m.config, ...fields } as BackendConfig;
    const row = this.rowOf(id);
    // null: back to the default, which for a config.yaml host is the file's value.
    if (fields.max_inflight === null) {
      const fromFile = row.origin === "config" ? this.file.get(id)?.max_inflight : undefined;
      if (fromFile === undefined) delete next.max_inflight;
      else next.max_inflight = fromFile;
    }
    m.reconfigure(next);
    row.definition =
      row.origin === "config"
        ? (dropNulls({ ...row.definition, ...fields }) as Partial<BackendConfig>)
        : next;
    this.store.save(row);
    if (enabled !== undefined) this.scheduler.setEnabled(id, enabled);
    this.log.info({ backend_id: id, patch }, "backend changed");
    this.jobs.kick();
    return m;
  }

  /** DELETE /api/backends/:id: drains, then drops the host. True if it went at once (nothing running). */
  remove(id: string): boolean {
    this.scheduler.get(id);
    if (this.scheduler.isRemoving(id)) return false;
    const row = this.rowOf(id);
    row.removing = true;
    this.store.save(row);
    this.scheduler.retire(id);
    this.log.info(
      { backend_id: id, inflight: this.scheduler.inflight(id) },
      "backend removing: draining first",
    );
    return this.checkRemovals().includes(id);
  }

  /** A config reload: applies the difference between the running fleet and the file plus stored changes. */
  apply(file: readonly BackendConfig[]): FleetChange {
    const change: FleetChange = { added: [], removed: [], changed: [] };
    const merged = mergeFleet(file, this.store.all());
    for (const s of merged.stale) {
      this.log.warn({ backend_id: s.id, reason: s.reason }, "dropped a stored backend change");
      this.store.delete(s.id);
    }
    const desired = new Map(merged.hosts.map((h) => [h.config.id, h]));
    const previousFile = this.file;
    this.file = new Map(file.map((b) => [b.id, b]));
    for (const m of this.scheduler.all()) {
      if (desired.has(m.id) || this.scheduler.isRemoving(m.id)) continue;
      // Gone from the file: drain it first, remembered across a restart until it has drained.
      this.origins.set(m.id, "retired");
      this.store.save({ ...emptyRow(m.id, "retired"), definition: m.config, removing: true });
      this.scheduler.retire(m.id);
      change.removed.push(m.id);
    }
    for (const d of desired.values()) {
      const running = this.scheduler.all().find((m) => m.id === d.config.id);
      if (!running) {
        if (this.replacements.has(d.config.id)) this.replacements.set(d.config.id, d);
        else {
          this.join(d);
          change.added.push(d.config.id);
        }
        continue;
      }
      this.origins.set(d.config.id, d.origin);
      const moved = ADDRESS_KEYS.some((k) => running.config[k] !== d.config[k]);
      if (moved || (this.scheduler.isRemoving(running.id) && !d.removing)) {
        // Same id, new address: the old connection drains its jobs, then the new one takes over.
        this.replacements.set(running.id, d);
        this.scheduler.retire(running.id);
        change.changed.push(running.id);
        continue;
      }
      const before = JSON.stringify(running.config);
      running.reconfigure(d.config);
      const described = this.scheduler.describe(running);
      const stateChanged =
        described.enabled !== d.enabled ||
        (d.draining && !["draining", "drained"].includes(String(described.state)));
      if (stateChanged && !d.removing) this.restore(running.id, d);
      if (d.removing && !this.scheduler.isRemoving(running.id)) this.scheduler.retire(running.id);
      const fileEntryChanged =
        JSON.stringify(previousFile.get(running.id)) !== JSON.stringify(this.file.get(running.id));
      if (
        before !== JSON.stringify(running.config) ||
        stateChanged ||
        (fileEntryChanged && previousFile.size)
      )
        change.changed.push(running.id);
    }
    if (this.started) this.checkRemovals();
    this.jobs.kick();
    return change;
  }

  /**
   * With replicas: a fleet change made through another replica (add, change, remove, drain, enable,
   * disable) is stored, not told. Each lease round every replica applies what is stored: new hosts join,
   * changed ones take their new fields and state, and hosts no longer wanted drain and are dropped.
   * An address change stays a reload's business (apply), as on one server.
   */
  adoptStored(): void {
    const merged = mergeFleet([...this.file.values()], this.store.all()).hosts;
    const desired = new Map(merged.map((h) => [h.config.id, h]));
    for (const m of this.scheduler.all()) {
      if (this.scheduler.isRemoving(m.id) || this.replacements.has(m.id)) continue;
      const d = desired.get(m.id);
      if (!d || d.removing) {
        this.scheduler.retire(m.id);
        this.log.info({ backend_id: m.id }, "backend removing (through another replica): draining first");
        continue;
      }
      if (ADDRESS_KEYS.some((k) => m.config[k] !== d.config[k])) continue;
      if (JSON.stringify(m.config) !== JSON.stringify(d.config)) m.reconfigure(d.config);
      const here = this.scheduler.controlOf(m.id);
      if (here && (here.enabled !== d.enabled || here.draining !== d.draining)) this.restore(m.id, d);
    }
    const known = new Set(this.scheduler.all().map((m) => m.id));
    for (const d of desired.values()) {
      if (d.removing || known.has(d.config.id) || this.replacements.has(d.config.id)) continue;
      this.join(d);
      this.log.info({ backend_id: d.config.id }, "backend added (through another replica)");
    }
    if (this.started) this.checkRemovals();
    this.jobs.kick();
  }

  /** Drops every host being removed that has nothing running any more; returns their ids. */
  checkRemovals(): string[] {
    const gone: string[] = [];
    for (const m of this.scheduler.all()) {
      if (!this.scheduler.isRemoving(m.id) || this.scheduler.inflight(m.id) > 0) continue;
      this.drop(m);
      gone.push(m.id);
    }
    return gone;
  }

  private drop(m: BackendMonitor): void {
    this.scheduler.unregister(m.id);
    void m.stop().finally(() => m.removeAllListeners());
    const row = this.store.get(m.id);
    const origin = this.origins.get(m.id);
    this.origins.delete(m.id);
    if (row && origin === "config") this.store.save({ ...row, removing: false, removed: true });
    else this.store.delete(m.id);
    this.hooks.onLeave(m.id);
    this.log.info({ backend_id: m.id }, "backend removed");
    const next = this.replacements.get(m.id);
    if (next) {
      this.replacements.delete(m.id);
      this.join(next);
    }
  }

  private join(d: DesiredHost): BackendMonitor {
    const m = this.newMonitor(d.config);
    this.origins.set(d.config.id, d.origin);
    this.scheduler.register(m, { enabled: d.enabled, draining: d.draining });
    if (d.removing) this.scheduler.retire(m.id);
    this.hooks.onAdd(m);
    this.jobs.attach(m);
    if (this.started) this.startMonitor(m);
    return m;
  }

  private startMonitor(m: BackendMonitor): void {
    m.start();
    this.hooks.onJoin(m);
    this.jobs.kick();
  }

  private restore(id: string, d: Pick<DesiredHost, "enabled" | "draining">): void {
    this.restoring = true;
    try {
      this.scheduler.setEnabled(id, d.enabled);
      if (d.draining) this.scheduler.drain(id);
    } finally {
      this.restoring = false;
    }
  }

  private saveState(id: string, state: { enabled: boolean; draining: boolean }): void {
    if (this.restoring) return;
    const row = this.rowOf(id);
    this.store.save({ ...row, enabled: state.enabled, draining: state.draining });
  }

  /** The host's stored row, or a new one tied to its current config.yaml entry. */
  private rowOf(id: string): BackendRow {
    const existing = this.store.get(id);
    if (existing) return existing;
    const origin = this.origins.get(id) ?? "config";
    const entry = this.file.get(id);
    const row = emptyRow(id, origin);
    if (origin === "config" && entry) row.config_hash = configHash(entry);
    else row.definition = this.scheduler.get(id).config;
    return row;
  }
}

function emptyRow(id: string, origin: BackendOrigin): BackendRow {
  return {
    id,
    origin,
    definition: {},
    config_hash: null,
    enabled: null,
    draining: false,
    removing: false,
    removed: false,
  };
}

function dropNulls<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null)) as T;
}
