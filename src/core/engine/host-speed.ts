// How fast each host runs each workflow, learned from our own jobs: an EWMA of run time per unit of work
// (job-work.ts) and, apart from it, of the time a model load added. Persisted, so a restart keeps them.
// Until a host is measured, estimates borrow from other hosts for the same workflow, then the configured priors.
import type { HostSpeedStore, SpeedRecord } from "../storage/host-speed-store.js";
import type { WorkUnit } from "./job-work.js";

/** Weight of the newest sample: recent enough to follow a host that slowed down, steady under jitter. */
const ALPHA = 0.3;

export interface HostSpeedOptions {
  defaultLoadMs: number;
  defaultRunMsPerUnit: number;
  /** A sample that could not be stored (database locked, disk full): it stays in memory meanwhile. */
  onSaveError: (err: unknown) => void;
}

export class HostSpeed {
  private readonly records = new Map<string, SpeedRecord>();

  constructor(
    private readonly store: HostSpeedStore,
    private readonly opts: HostSpeedOptions,
  ) {
    for (const r of store.all()) this.records.set(key(r.backend_id, r.workflow_id), r);
  }

  /**
   * Re-reads one host's rows: with replicas, the host's previous driver went on learning its speed, and its
   * new driver (which just took the lease) starts from what that one stored.
   */
  reload(backendId: string): void {
    const rows = this.store.ofBackend(backendId);
    for (const [k, r] of this.records) if (r.backend_id === backendId) this.records.delete(k);
    for (const r of rows) this.records.set(key(r.backend_id, r.workflow_id), r);
  }

  /** Expected run time (no load) of `units` of work of this workflow on this host, ms. */
  runMs(backendId: string, workflowId: string, units: number): number {
    const own = this.records.get(key(backendId, workflowId))?.run_ms_per_unit;
    const perUnit =
      own ?? median(this.others(workflowId, (r) => r.run_ms_per_unit)) ?? this.opts.defaultRunMsPerUnit;
    return perUnit * units;
  }

  /** For a prompt of unknown workflow (another client's): this host's, else the fleet's, speed per unit. */
  anyRunMs(backendId: string, units: number, unit: WorkUnit): number {
    const same = [...this.records.values()].filter((r) => r.unit === unit);
    const host = median(same.filter((r) => r.backend_id === backendId).map((r) => r.run_ms_per_unit));
    return (host ?? median(same.map((r) => r.run_ms_per_unit)) ?? this.opts.defaultRunMsPerUnit) * units;
  }

  /** Expected cost of loading this workflow's models on this host, ms. */
  loadMs(backendId: string, workflowId: string): number {
    const own = this.records.get(key(backendId, workflowId))?.load_ms;
    if (own != null) return own;
    // Models of one host load at about one speed (its disk and bus), whichever workflow needs them.
    const host = median(
      [...this.records.values()].filter((r) => r.backend_id === backendId).map((r) => r.load_ms),
    );
    return host ?? median(this.others(workflowId, (r) => r.load_ms)) ?? this.opts.defaultLoadMs;
  }

  recordRun(
    backendId: string,
    workflowId: string,
    work: { units: number; unit: WorkUnit },
    runMs: number,
  ): void {
    const { units } = work;
    const r = this.record(backendId, workflowId);
    r.unit = work.unit;
    r.run_ms_per_unit = ewma(r.run_ms_per_unit, runMs / units);
    r.run_samples++;
    this.save(r);
  }

  recordLoad(backendId: string, workflowId: string, loadMs: number): void {
    const r = this.record(backendId, workflowId);
    r.load_ms = ewma(r.load_ms, loadMs);
    r.load_samples++;
    this.save(r);
  }

  /** What /api/backends shows for one host. */
  describe(backendId: string) {
    return [...this.records.values()]
      .filter((r) => r.backend_id === backendId)
      .map((r) => ({
        workflow_id: r.workflow_id,
        unit: r.unit,
        run_ms_per_unit: round(r.run_ms_per_unit),
        run_samples: r.run_samples,
        load_ms: round(r.load_ms),
        load_samples: r.load_samples,
        updated_at: r.updated_at,
      }));
  }

  private others(workflowId: string, pick: (r: SpeedRecord) => number | null): (number | null)[] {
    return [...this.records.values()].filter((r) => r.workflow_id === workflowId).map(pick);
  }

  private record(backendId: string, workflowId: string): SpeedRecord {
    const k = key(backendId, workflowId);
    let r = this.records.get(k);
    if (!r) {
      r = {
        backend_id: backendId,
        workflow_id: workflowId,
        unit: "job",
        run_ms_per_unit: null,
        run_samples: 0,
        load_ms: null,
        load_samples: 0,
        updated_at: "",
      };
      this.records.set(k, r);
    }
    return r;
  }

  private save(r: SpeedRecord): void {
    r.updated_at = new Date().toISOString();
    try {
      this.store.save(r);
    } catch (err) {
      // Runs from a host's event stream: a storage fault must not escape, and the next sample saves it.
      this.opts.onSaveError(err);
    }
  }
}

const key = (backendId: string, workflowId: string) => `${backendId}\u0000${workflowId}`;
const ewma = (prev: number | null, sample: number) =>
  prev === null ? sample : prev + ALPHA * (sample - prev);
const round = (v: number | null) => (v === null ? null : Number(v.toFixed(3)));

function median(values: (number | null | undefined)[]): number | null {
  const v = values.filter((x): x is number => typeof x === "number").sort((a, b) => a - b);
  if (!v.length) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}
