// Builds the dispatch planner and what it learns from the hosts (prompt timing, warm models, host speed),
// for the composition root: the planner's part of the wiring in one place, as host-driving is for leases.
import type { Logger } from "pino";
import type { BackendMonitor } from "../../backends/monitor.js";
import { WarmModels } from "../../backends/warm-models.js";
import type { Config } from "../../config.js";
import type { Job } from "../models.js";
import { HostSpeedStore } from "../storage/host-speed-store.js";
import type { SqlDatabase } from "../storage/sql.js";
import { DispatchPlanner } from "./dispatch-planner.js";
import { HostSpeed } from "./host-speed.js";
import { PromptTiming } from "./prompt-timing.js";
import type { Scheduler } from "./scheduler.js";

export interface DispatchPlanning {
  planner: DispatchPlanner;
  speed: HostSpeed;
  /** A host joined the fleet: watch its prompt timing and its warm models. */
  join(m: BackendMonitor): void;
  /** A host left the fleet. */
  leave(id: string): void;
}

export function dispatchPlanning(d: {
  config: Config["scheduler"];
  db: SqlDatabase;
  scheduler: Scheduler;
  jobOf: (id: string) => Job | null;
  countOf: (queueKey: string, limit: number) => number;
  onModelLoad: (backend: string) => void;
  /** A host speed sample could not be stored. */
  onSaveError: (err: unknown) => void;
  log: Logger;
}): DispatchPlanning {
  const { config, log } = d;
  const timing = new PromptTiming();
  // Filled as hosts join the fleet (fleet.load, and later additions); emptied as they leave.
  const warm = new Map<string, WarmModels>();
  const speed = new HostSpeed(new HostSpeedStore(d.db), {
    defaultLoadMs: config.model_load_estimate_s * 1000,
    defaultRunMsPerUnit: config.run_estimate_ms_per_unit,
    onSaveError: d.onSaveError,
  });
  const planner = new DispatchPlanner(
    d.scheduler,
    speed,
    timing,
    warm,
    d.jobOf,
    d.countOf,
    {
      enabled: config.policy === "expected_completion",
      agingMs: config.aging_s * 1000,
      onModelLoad: d.onModelLoad,
    },
    log,
  );
  return {
    planner,
    speed,
    join: (m) => {
      timing.watch(m);
      warm.set(m.id, new WarmModels(m, m.config.model_slots, log));
    },
    leave: (id) => warm.delete(id),
  };
}
