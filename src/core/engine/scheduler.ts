// Chooses the host for a job at the moment a host has room (late binding): jobs wait in Orchestrator's
// queue, never behind a slow host while another idles. Eligibility, then ranking, both documented in README.
import type { Logger } from "pino";
import type { BackendMonitor } from "../../backends/monitor.js";
import { AppError } from "../../errors.js";
import type { Requirements } from "./requirements.js";

interface Runtime {
  enabled: boolean;
  draining: boolean;
  /** Being deleted: draining for good, until the fleet drops it. */
  removing: boolean;
  /** Running its warm-up workflow: takes no jobs until it ends. */
  warming: boolean;
  /** This replica holds the host's lease (always, on SQLite): only the holder dispatches to it. */
  driven: boolean;
  /** Being handed to a replica short of hosts: no new dispatch, its prompts in flight are followed to the end. */
  handingOver: boolean;
  inflight: Set<string>;
  /** When a slot last freed up (or the host joined): the start of the dispatch latency metric. */
  freedAt: number;
  completed: number;
  failed: number;
  totalSeconds: number;
  lastPicked: number;
}

export interface SelectOptions {
  exclude?: ReadonlySet<string>;
  /** After an out-of-memory error: only hosts with more free VRAM than this. */
  minFreeVramBytes?: number;
}

export class Scheduler {
  private readonly monitors = new Map<string, BackendMonitor>();
  private readonly runtime = new Map<string, Runtime>();
  private picks = 0;

  constructor(
    private readonly defaultMaxInflight: number,
    private readonly log: Logger,
    /** Replicas share hosts by lease: a host is driven only once its lease is held (host-leases.ts). */
    private readonly leased = false,
  ) {}

  /** `state`: the drain / enable state a host had before a restart (default: as configured). */
  register(
    monitor: BackendMonitor,
    state: { enabled?: boolean; draining?: boolean; removing?: boolean } = {},
  ): void {
    this.monitors.set(monitor.id, monitor);
    this.runtime.set(monitor.id, {
      enabled: state.enabled ?? monitor.config.enabled,
      draining: state.draining ?? false,
      removing: state.removing ?? false,
      warming: false,
      driven: !this.leased,
      handingOver: false,
      inflight: new Set(),
      freedAt: Date.now(),
      completed: 0,
      failed: 0,
      totalSeconds: 0,
      lastPicked: 0,
    });
  }

  /** Forgets a host (the fleet does this once it has drained). */
  unregister(id: string): void {
    this.monitors.delete(id);
    this.runtime.delete(id);
  }

  /** More about a host from those who know it (the fleet: origin, warm-up). */
  describeExtra: (id: string) => Record<string, unknown> = () => ({});

  /** Called on every drain / enable / disable, so the fleet can persist it. */
  onRuntimeChange: (id: string, state: { enabled: boolean; draining: boolean }) => void = () => {};

  /** Drains a host for good: it is being removed. */
  retire(id: string): void {
    const rt = this.runtime.get(this.get(id).id)!;
    rt.removing = true;
    rt.draining = true;
  }

  setWarming(id: string, warming: boolean): void {
    const rt = this.runtime.get(id);
    if (rt) rt.warming = warming;
  }

  /** This replica took (true) or gave up (false) the host's lease. */
  setDriven(id: string, driven: boolean): void {
    const rt = this.runtime.get(id);
    if (!rt) return;
    rt.driven = driven;
    rt.handingOver = false;
  }

  /** A host this replica drives is being handed over (true) or is one of its own again (false). */
  setHandingOver(id: string, on: boolean): void {
    const rt = this.runtime.get(id);
    if (rt?.driven) rt.handingOver = on;
  }

  /** The drain / enable state a host has here (null: unknown host). */
  controlOf(id: string): { enabled: boolean; draining: boolean } | null {
    const rt = this.runtime.get(id);
    return rt ? { enabled: rt.enabled, draining: rt.draining } : null;
  }

  drives(id: string): boolean {
    return this.runtime.get(id)?.driven ?? false;
  }

  isWarming(id: string): boolean {
    return this.runtime.get(id)?.warming ?? false;
  }

  isRemoving(id: string): boolean {
    return this.runtime.get(id)?.removing ?? false;
  }

  all(): BackendMonitor[] {
    return [...this.monitors.values()];
  }

  get(id: string): BackendMonitor {
    const m = this.monitors.get(id);
    if (!m) throw new AppError("BACKEND_NOT_FOUND", `Backend "${id}" not found`, { backend_id: id });
    return m;
  }

  maxInflight(m: BackendMonitor): number {
    return m.config.max_inflight ?? this.defaultMaxInflight;
  }

  /** Why a host could never run this job, from what we know of it (null: it could, or we don't know yet). */
  staticReason(m: BackendMonitor, req: Requirements): string | null {
    const missingCaps = req.capabilities.filter((c) => !m.config.capabilities.includes(c));
    if (missingCaps.length) return `lacks capabilities: ${missingCaps.join(", ")}`;
    const s = m.snapshot;
    if (s.node_classes) {
      const missing = req.classTypes.filter((c) => !s.node_classes!.has(c));
      if (missing.length) return `lacks node classes: ${missing.join(", ")}`;
      const models = req.models.filter((x) => s.models.get(x.input) && !s.models.get(x.input)!.has(x.value));
      if (models.length) return `lacks models: ${models.map((x) => `${x.input}=${x.value}`).join(", ")}`;
    }
    if (req.minVramBytes !== null && s.device_type === "cpu") {
      return `is a CPU host (no VRAM), the workflow needs ${(req.minVramBytes / 1024 ** 3).toFixed(1)} GB VRAM`;
    }
    if (req.minVramBytes !== null && s.vram_total !== null && s.vram_total < req.minVramBytes) {
      return `has ${(s.vram_total / 1024 ** 3).toFixed(1)} GB VRAM, the workflow needs ${(req.minVramBytes / 1024 ** 3).toFixed(1)} GB`;
    }
    return null;
  }

  /** Rejects a submit that no configured host could ever run, with the reason for each host. */
  assertCapable(req: Requirements): void {
    if (this.monitors.size === 0) {
      throw new AppError("NO_CAPABLE_BACKEND", "No backends are configured", { backends: {} });
    }
    const reasons: Record<string, string> = {};
    for (const m of this.monitors.values()) {
      const r = this.staticReason(m, req);
      if (r === null) return;
      reasons[m.id] = r;
    }
    throw new AppError("NO_CAPABLE_BACKEND", "No configured backend can run this workflow", {
      backends: reasons,
    });
  }

  /** Hosts that could still run the job: able to (as far as we know) and not among those that refused it. */
  candidatesLeft(req: Requirements, refused: ReadonlySet<string>): string[] {
    return [...this.monitors.values()]
      .filter((m) => !refused.has(m.id) && this.staticReason(m, req) === null)
      .map((m) => m.id);
  }

  /** Why a host cannot take this job right now, or null if it can. */
  reason(m: BackendMonitor, req: Requirements, o: SelectOptions = {}): string | null {
    return this.roomReason(m) ?? this.waitReason(m, req, o);
  }

  /** Why a host could not take this job even once it has room (null: it could). */
  waitReason(m: BackendMonitor, req: Requirements, o: SelectOptions = {}): string | null {
    const rt = this.runtime.get(m.id)!;
    if (!rt.driven) return "driven by another replica";
    if (rt.handingOver) return "being handed to another replica";
    if (!rt.enabled) return "disabled";
    if (rt.draining) return "draining";
    if (m.snapshot.state !== "online") return m.snapshot.state;
    if (rt.warming) return "warming up";
    if (o.exclude?.has(m.id)) return "failed this job before";
    if (o.minFreeVramBytes !== undefined && (m.snapshot.vram_free ?? 0) <= o.minFreeVramBytes) {
      return "not enough free VRAM";
    }
    return this.staticReason(m, req);
  }

  /** Why a host has no room for another prompt now (null: it has). */
  roomReason(m: BackendMonitor): string | null {
    const rt = this.runtime.get(m.id)!;
    if (rt.inflight.size >= this.maxInflight(m)) return "full";
    if (m.snapshot.interrupting.size > 0) return "finishing an interrupted prompt";
    if (!this.slotOpen(m, rt)) return "running prompt not near its end";
    return null;
  }

  /**
   * Among hosts that can take the job now: fewest prompts ahead (foreign prompts on the host plus ours in
   * flight), then most free VRAM (a CPU host has none), then highest weight, then the one picked least
   * recently (round-robin).
   */
  select(req: Requirements, o: SelectOptions = {}): BackendMonitor | null {
    let best: BackendMonitor | null = null;
    let bestKey: number[] = [];
    for (const m of this.monitors.values()) {
      if (this.reason(m, req, o) !== null) continue;
      const rt = this.runtime.get(m.id)!;
      const key = [
        m.snapshot.foreign_queued + rt.inflight.size,
        -(m.snapshot.vram_free ?? 0),
        -m.config.weight,
        rt.lastPicked,
      ];
      if (!best || compare(key, bestKey) < 0) {
        best = m;
        bestKey = key;
      }
    }
    if (best) this.runtime.get(best.id)!.lastPicked = ++this.picks;
    return best;
  }

  hasFreeSlot(): boolean {
    for (const m of this.monitors.values()) {
      const rt = this.runtime.get(m.id)!;
      if (
        rt.driven &&
        !rt.handingOver &&
        rt.enabled &&
        !rt.draining &&
        !rt.warming &&
        m.snapshot.state === "online" &&
        rt.inflight.size < this.maxInflight(m) &&
        m.snapshot.interrupting.size === 0 &&
        this.slotOpen(m, rt)
      ) {
        return true;
      }
    }
    return false;
  }

  /**
   * A host's first slot is always open. Its later ones open when the gate says the prompt it is running is
   * nearly done: sent earlier, a prompt would wait on that host while a faster one might free up first.
   */
  private slotOpen(m: BackendMonitor, rt: Runtime): boolean {
    return rt.inflight.size === 0 || this.nextPromptGate(m.id);
  }

  /** Set by the JobManager, which knows how far each host's running prompt has got. */
  nextPromptGate: (backendId: string) => boolean = () => true;

  acquire(backendId: string, jobId: string): void {
    this.runtime.get(backendId)?.inflight.add(jobId);
  }

  release(backendId: string, jobId: string, outcome?: { ok: boolean; seconds: number }): void {
    const rt = this.runtime.get(backendId);
    if (!rt?.inflight.delete(jobId)) return;
    rt.freedAt = Date.now();
    if (!outcome) return;
    if (outcome.ok) {
      rt.completed++;
      rt.totalSeconds += outcome.seconds;
    } else rt.failed++;
  }

  slotFreedAt(backendId: string): number {
    return this.runtime.get(backendId)?.freedAt ?? 0;
  }

  inflight(backendId: string): number {
    return this.runtime.get(backendId)?.inflight.size ?? 0;
  }

  setEnabled(id: string, enabled: boolean): void {
    const rt = this.runtime.get(this.get(id).id)!;
    this.assertNotRemoving(id, rt);
    rt.enabled = enabled;
    rt.draining = false;
    this.log.info({ backend_id: id, enabled }, enabled ? "backend enabled" : "backend disabled");
    this.onRuntimeChange(id, { enabled, draining: false });
  }

  drain(id: string): void {
    const rt = this.runtime.get(this.get(id).id)!;
    this.assertNotRemoving(id, rt);
    rt.draining = true;
    this.log.info({ backend_id: id }, "backend draining: finishing in-flight jobs, taking no new ones");
    this.onRuntimeChange(id, { enabled: rt.enabled, draining: true });
  }

  private assertNotRemoving(id: string, rt: Runtime): void {
    if (rt.removing)
      throw new AppError("BACKEND_REMOVING", `Backend "${id}" is being removed`, { backend_id: id });
  }

  describe(m: BackendMonitor): Record<string, unknown> {
    const rt = this.runtime.get(m.id)!;
    const s = m.snapshot;
    const state = rt.removing
      ? "removing"
      : !rt.enabled
        ? "disabled"
        : rt.draining
          ? rt.inflight.size
            ? "draining"
            : "drained"
          : s.state;
    return {
      id: m.id,
      name: m.config.name ?? m.id,
      host: m.config.host,
      port: m.config.port,
      enabled: rt.enabled,
      capabilities: m.config.capabilities,
      status: s.state,
      state,
      reason: state === "online" ? null : (s.reason ?? state),
      queue_running: s.queue_running,
      queue_pending: s.queue_pending,
      foreign_queued: s.foreign_queued,
      inflight: rt.inflight.size,
      max_inflight: this.maxInflight(m),
      ...(rt.handingOver ? { handing_over: true } : {}),
      // Cancelled or timed-out prompts still running on the host (mid-node): they hold it until they end.
      interrupting: [...s.interrupting].map(([prompt_id, e]) => ({
        prompt_id,
        since: new Date(e.since).toISOString(),
        overdue: e.stuck,
      })),
      vram_total: s.vram_total,
      vram_free: s.vram_free,
      device_type: s.device_type,
      device_name: s.device_name,
      ram_total: s.ram_total,
      comfyui_version: s.comfyui_version,
      node_classes: s.node_classes?.size ?? 0,
      models: [...s.models.values()].reduce((n, set) => n + set.size, 0),
      jobs_completed: rt.completed,
      jobs_failed: rt.failed,
      avg_job_s: rt.completed ? Number((rt.totalSeconds / rt.completed).toFixed(3)) : null,
      weight: m.config.weight,
      last_seen: s.last_seen,
      last_error: s.last_error,
      ...this.describeExtra(m.id),
    };
  }
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i]! !== b[i]!) return a[i]! - b[i]!;
  return 0;
}
