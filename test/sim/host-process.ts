// What one run of a ComfyUI process holds in memory — queue, history, prompt counter, executor — and what the
// routes may reach. A crash or restart throws a HostProcess away; files on disk and the simulator's stats stay.
import { ExecutionCache } from "./exec-cache.js";
import { Executor, type ExecutorDeps, type SimStats } from "./executor.js";
import type { Fault, FaultBook } from "./faults.js";
import type { NodeDef, NodeEnv } from "./node-types.js";
import type { ObjectInfoForm } from "./object-info.js";
import type { SimDirs } from "./paths.js";
import { PromptQueue } from "./prompt-queue.js";
import type { WsHub } from "./ws-hub.js";

export class HostProcess {
  readonly queue: PromptQueue;
  readonly executor: Executor;
  /** PromptServer.number: the next prompt's queue number. */
  nextNumber = 0;

  /** The executor's output cache: in memory, so a restart starts cold. */
  readonly cache = new ExecutionCache();

  constructor(deps: Omit<ExecutorDeps, "queue" | "cache">) {
    this.queue = new PromptQueue(() => deps.hub.send("status", { status: this.queueInfo() }));
    this.executor = new Executor({ ...deps, queue: this.queue, cache: this.cache });
    this.executor.start();
  }

  queueInfo(): { exec_info: { queue_remaining: number } } {
    return { exec_info: { queue_remaining: this.queue.remaining() } };
  }

  dispose(): void {
    this.executor.dispose();
  }
}

export interface DeviceInfo {
  name: string;
  /** "cuda", or "cpu" for a host started with --cpu (then "VRAM" is system RAM, as ComfyUI reports it). */
  type: "cuda" | "cpu";
  vramTotal: number;
  vramFree: number;
}

/** Everything a route handler needs from the simulator. */
export interface SimRuntime {
  process(): HostProcess;
  readonly hub: WsHub;
  readonly registry: Map<string, NodeDef>;
  readonly dirs: SimDirs;
  readonly faults: FaultBook;
  readonly stats: SimStats;
  readonly device: DeviceInfo;
  readonly objectInfoForm: ObjectInfoForm;
  env(): NodeEnv;
  log(line: string): void;
  // Test controls reachable over /_sim.
  setFault(f: Fault): void;
  clearFaults(): void;
  setVramFree(bytes: number): void;
  /** POST /free {"unload_models": true}: nothing stays warm. */
  unloadModels(): void;
  addForeignPrompts(n: number, stepsEach?: number): void;
  /** Crash now (state lost) and listen again after `ms`. */
  crashThenRestart(ms: number): void;
}
