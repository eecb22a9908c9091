// Expected completion of a job on a host: time until the host is free (what runs there now and what waits
// there, ours and other clients', plus what this dispatch pass already planned for it) + a model load if
// the job's models will not be warm by then + the job's run time on that host, all from learned speeds.
import { isWarm, type ModelSet } from "../../backends/warm-models.js";
import type { HostSpeed } from "./host-speed.js";
import type { WorkUnit } from "./job-work.js";

/** What the estimate needs of a job. */
export interface JobShape {
  workflowId: string;
  units: number;
  unit: WorkUnit;
  models: ModelSet | null;
}

/** One host's line: when it will be free and what it will have warm then. Mutated as jobs are planned onto it. */
export interface HostLine {
  backendId: string;
  freeInMs: number;
  warm: ModelSet[];
  /** Model files of jobs this pass planned here: the host runs jobs with a warm model first, so a job
   * sharing one with them is grouped with it and pays no load of its own. */
  planned: Set<string>;
  slots: number;
  /** Can take a prompt now. */
  open: boolean;
  /** For ties, as least_queue ranks: prompts ahead (foreign and ours), free VRAM, weight, last pick. */
  ahead: number;
  vramFree: number;
  weight: number;
  lastPicked: number;
}

export interface Estimate {
  backendId: string;
  waitMs: number;
  loadMs: number;
  runMs: number;
  totalMs: number;
  warm: boolean;
  open: boolean;
}

export function estimateOn(line: HostLine, job: JobShape, speed: HostSpeed): Estimate {
  const warm = isWarm(line.warm, job.models) || (job.models?.files.every((f) => line.planned.has(f)) ?? true);
  const loadMs = warm ? 0 : speed.loadMs(line.backendId, job.workflowId);
  const runMs = speed.runMs(line.backendId, job.workflowId, job.units);
  return {
    backendId: line.backendId,
    waitMs: line.freeInMs,
    loadMs,
    runMs,
    totalMs: line.freeInMs + loadMs + runMs,
    warm,
    open: line.open,
  };
}

/** Puts the job at the end of the host's line (its warm set stays what the host's queue leaves). */
export function reserve(line: HostLine, est: Estimate, job: JobShape): void {
  line.freeInMs = est.totalMs;
  for (const f of job.models?.files ?? []) line.planned.add(f);
  line.ahead++;
}

/**
 * Smallest expected finish. Within a millisecond it is a tie (unmeasured hosts all estimate alike), broken
 * as least_queue ranks: a host free now, fewer prompts ahead, more free VRAM, higher weight, picked longest ago.
 */
export function best(estimates: readonly Estimate[], lines: ReadonlyMap<string, HostLine>): Estimate | null {
  let top: Estimate | null = null;
  for (const e of estimates) {
    if (!top || e.totalMs < top.totalMs - 1) top = e;
    else if (e.totalMs <= top.totalMs + 1 && tieKey(e, lines) < tieKey(top, lines)) top = e;
  }
  return top;
}

function tieKey(e: Estimate, lines: ReadonlyMap<string, HostLine>): string {
  const l = lines.get(e.backendId)!;
  const pad = (n: number) => String(Math.max(0, Math.round(n))).padStart(16, "0");
  // A string compares the tie-breakers in order; each part is padded so that smaller sorts first.
  return [
    e.open ? 0 : 1,
    pad(l.ahead),
    pad(1e15 - l.vramFree / 1024),
    pad(1e9 - l.weight * 1e3),
    pad(l.lastPicked),
  ].join("|");
}

/** "4.2 s" */
export const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
