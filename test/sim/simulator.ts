// A ComfyUI host simulator on 127.0.0.1 for tests: the real wire protocol (HTTP routes, /ws events, binary
// previews), real PNGs from model-free nodes, simulated sampling, and fault injection. Lifecycle transitions
// (listen, crash, close, restart, refusing connections) are serialised so they never interleave.
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import type http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import os from "node:os";
import path from "node:path";
import { type WebSocket, WebSocketServer } from "ws";
import type { PromptRun, SimStats } from "./executor.js";
import { type Fault, FaultBook } from "./faults.js";
import { txt2imgGraph } from "./graphs.js";
import { type DeviceInfo, HostProcess, type SimRuntime } from "./host-process.js";
import { MAX_BODY_BYTES } from "./http-io.js";
import { createHttpServer } from "./http-server.js";
import { ModelCache } from "./model-cache.js";
import { buildRegistry } from "./node-registry.js";
import type { NodeDef, NodeEnv } from "./node-types.js";
import type { ObjectInfoForm } from "./object-info.js";
import { makeDirs, type SimDirs } from "./paths.js";
import type { PreviewMethod } from "./previews.js";
import type { HistoryEntry, QueueItem } from "./prompt-queue.js";
import { submitPrompt } from "./prompt-submit.js";
import type { Route } from "./router.js";
import { fileRoutes } from "./routes-files.js";
import { infoRoutes } from "./routes-info.js";
import { queueRoutes } from "./routes-queue.js";
import { simRoutes } from "./routes-sim.js";
import { WsHub } from "./ws-hub.js";
import { acceptClient } from "./ws-session.js";

export type { PromptRun, SimStats } from "./executor.js";
export type { Fault } from "./faults.js";
export type { HistoryEntry, QueueItem } from "./prompt-queue.js";

export interface SimulatorOptions {
  port?: number;
  stepMs?: number;
  nodeMs?: number;
  vramTotalGb?: number;
  vramFreeGb?: number;
  deviceName?: string;
  checkpoints?: string[];
  extraNodeClasses?: string[];
  disabledNodeClasses?: string[];
  dataDir?: string;
  outputSizeBytes?: number;
  /** Relative speed: sampler steps and nodes take stepMs ÷ speed (default 1). Loads are not sped up. */
  speed?: number;
  /** Cost of loading a checkpoint that is not warm, ms (default 0: free). */
  loadMs?: number;
  /** Checkpoints kept warm at once (default 1, ComfyUI's behaviour of keeping the last prompt's). */
  modelSlots?: number;
  /** VRAM a warm checkpoint holds, GB (default 2 when loadMs is set, else 0 so free VRAM stays as set). */
  modelGb?: number;
  /** --preview-method: "none" (ComfyUI's default) sends previews only to prompts asking in extra_data. */
  previewMethod?: PreviewMethod;
  /** --cpu: no GPU; /system_stats reports a "cpu" device whose "VRAM" is system RAM. */
  cpu?: boolean;
  /** How /object_info writes choice inputs: "mixed" (default: V3 nodes in the COMBO form, as v0.8.0), "v1", "v3". */
  objectInfoForm?: ObjectInfoForm;
  /** Files in models/upscale_models (UpscaleModelLoader's choices). */
  upscaleModels?: string[];
  /** Headers every request and /ws upgrade must carry, as an authenticating reverse proxy would (else 401). */
  requireHeaders?: Record<string, string>;
  /** Receives one line per finished or rejected prompt (the CLI prints them). */
  log?: (line: string) => void;
  /** Told when a prompt starts and stops executing, crashes included (chaos checks nothing runs twice at once). */
  onPrompt?: (e: PromptRun) => void;
}

export interface Simulator {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  close(): Promise<void>;
  crash(): Promise<void>;
  restart(): Promise<void>;
  /** Resolves once pending lifecycle transitions (e.g. listening again after clearFaults) are done. */
  ready(): Promise<void>;
  setFault(f: Fault): void;
  clearFaults(): void;
  setVramFree(bytes: number): void;
  /** Replaces the checkpoint files on "disk": validation sees it at once, as ComfyUI rescans per prompt. */
  setCheckpoints(names: string[]): void;
  addForeignPrompts(n: number, stepsEach?: number): void;
  /** Snapshot of the in-memory history ({} while the host is down). */
  readonly history: Record<string, HistoryEntry>;
  getQueue(): { running: QueueItem[]; pending: QueueItem[] };
  readonly stats: Readonly<SimStats>;
  /** Client ids with an open /ws session. */
  connectedClients(): string[];
}

const GB = 1024 ** 3;
export const FOREIGN_CLIENT_ID = "foreign-client";

class SimulatorImpl implements Simulator, SimRuntime {
  url = "";
  port: number;
  readonly hub = new WsHub();
  readonly faults = new FaultBook();
  readonly registry: Map<string, NodeDef>;
  readonly dirs: SimDirs;
  readonly device: DeviceInfo;
  readonly objectInfoForm: ObjectInfoForm;
  private checkpoints: string[];
  readonly stats: SimStats = {
    promptsReceived: 0,
    promptsRejected: 0,
    promptsExecuted: 0,
    promptsInterrupted: 0,
    executing: 0,
    maxConcurrentExecuting: 0,
    interrupts: 0,
    uploads: 0,
    modelLoads: 0,
    previews: 0,
    previewsWithMetadata: 0,
  };
  /** Replaced on every boot: a restarted host has nothing warm. */
  private models: ModelCache | undefined;
  private proc: HostProcess | undefined;
  private server: http.Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_BODY_BYTES });
  private readonly routes: Route[];
  private lifecycle: Promise<void> = Promise.resolve();
  private closed = false;
  private restartTimer: NodeJS.Timeout | undefined;
  /** Settles when a restart scheduled by crash_mid_prompt has happened (or was cancelled by close). */
  private pendingRestart: Promise<void> = Promise.resolve();
  private cancelPendingRestart: () => void = () => {};

  constructor(
    readonly dataDir: string,
    private readonly opts: SimulatorOptions,
  ) {
    this.port = opts.port ?? 0;
    this.dirs = makeDirs(dataDir);
    this.registry = buildRegistry(opts.extraNodeClasses, opts.disabledNodeClasses);
    this.objectInfoForm = opts.objectInfoForm ?? "mixed";
    this.checkpoints = opts.checkpoints ?? ["sd_xl_base_1.0.safetensors", "v1-5-pruned-emaonly.safetensors"];
    // Default: a 24 GB card with 20 GB free, i.e. 4 GB held by the desktop and the CUDA context.
    let baseFree = Math.round((opts.vramFreeGb ?? Math.max(0, (opts.vramTotalGb ?? 24) - 4)) * GB);
    const self = this;
    this.device = opts.cpu
      ? // model_management on a CPU-only torch: the "VRAM" figures are system RAM.
        { name: "cpu", type: "cpu", vramTotal: os.totalmem(), vramFree: os.freemem() }
      : {
          name: opts.deviceName ?? "NVIDIA GeForce RTX 4090 (simulated)",
          type: "cuda",
          vramTotal: Math.round((opts.vramTotalGb ?? 24) * GB),
          // What nothing else holds, less the warm checkpoints.
          get vramFree() {
            return Math.max(0, baseFree - (self.models?.heldBytes() ?? 0));
          },
          set vramFree(bytes: number) {
            baseFree = bytes;
          },
        };
    this.routes = [...queueRoutes(this), ...fileRoutes(this), ...infoRoutes(this), ...simRoutes(this)];
  }

  // --- SimRuntime -------------------------------------------------------------------------------------------
  process(): HostProcess {
    if (!this.proc) throw new Error("simulated host is down");
    return this.proc;
  }

  env(): NodeEnv {
    return {
      dirs: this.dirs,
      checkpoints: this.checkpoints,
      upscaleModels: this.opts.upscaleModels ?? ["4x-UltraSharp.pth", "RealESRGAN_x2.pth"],
    };
  }

  log(line: string): void {
    this.opts.log?.(line);
  }

  // --- lifecycle --------------------------------------------------------------------------------------------
  private serialize(step: () => Promise<void>): Promise<void> {
    const next = this.lifecycle.then(step, step);
    this.lifecycle = next.catch(() => {});
    return next;
  }

  private boot(): void {
    const speed = this.opts.speed ?? 1;
    const loadMs = this.opts.loadMs ?? 0;
    this.models = new ModelCache(
      {
        loadMs,
        slots: this.opts.modelSlots ?? 1,
        modelBytes: Math.round((this.opts.modelGb ?? (loadMs > 0 ? 2 : 0)) * GB),
      },
      () => this.stats.modelLoads++,
    );
    this.proc = new HostProcess({
      models: this.models,
      hub: this.hub,
      registry: this.registry,
      env: () => this.env(),
      faults: this.faults,
      stats: this.stats,
      stepMs: (this.opts.stepMs ?? 20) / speed,
      nodeMs: (this.opts.nodeMs ?? 2) / speed,
      outputSizeBytes: this.opts.outputSizeBytes,
      previewMethod: this.opts.previewMethod ?? "none",
      crash: (ms) => this.crashThenRestart(ms),
      log: (line) => this.log(line),
      onPrompt: this.opts.onPrompt,
    });
  }

  private halt(): void {
    this.proc?.dispose();
    this.proc = undefined;
  }

  async listen(): Promise<void> {
    if (this.server) return;
    const server = createHttpServer({
      rt: this,
      routes: this.routes,
      wss: this.wss,
      sockets: this.sockets,
      onWebSocket: (ws, clientId) => this.onWebSocket(ws, clientId),
      requireHeaders: this.opts.requireHeaders,
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.port = (server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${this.port}`;
    this.server = server;
  }

  private async stopListening(graceful: boolean): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    if (graceful) {
      this.hub.closeAll();
      server.closeIdleConnections();
      await waitFor(() => this.sockets.size === 0, 500);
    }
    this.hub.terminateAll();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await closed;
  }

  private onWebSocket(ws: WebSocket, clientId: string | null): void {
    if (this.proc) acceptClient(this.hub, this.proc, ws, clientId);
    else ws.terminate();
  }

  crash(): Promise<void> {
    this.halt();
    return this.serialize(() => this.stopListening(false));
  }

  close(): Promise<void> {
    this.closed = true;
    this.cancelRestartTimer();
    this.halt();
    return this.serialize(() => this.stopListening(true));
  }

  restart(): Promise<void> {
    this.closed = false;
    this.cancelRestartTimer();
    this.faults.remove("refuse_connections");
    this.halt();
    return this.serialize(async () => {
      await this.stopListening(false);
      this.boot();
      await this.listen();
    });
  }

  async ready(): Promise<void> {
    await this.pendingRestart;
    await this.lifecycle;
  }

  private cancelRestartTimer(): void {
    clearTimeout(this.restartTimer);
    this.cancelPendingRestart();
  }

  crashThenRestart(ms: number): void {
    void this.crash();
    this.pendingRestart = new Promise<void>((resolve) => {
      this.cancelPendingRestart = resolve;
      this.restartTimer = setTimeout(() => {
        this.cancelPendingRestart = () => {};
        if (this.closed) return resolve();
        this.restart().then(resolve, () => resolve());
      }, ms);
    });
  }

  // --- faults and test controls ------------------------------------------------------------------------------
  setFault(f: Fault): void {
    this.faults.add(f);
    if (f.kind === "refuse_connections") void this.serialize(() => this.stopListening(false));
  }

  clearFaults(): void {
    const wasRefusing = this.faults.has("refuse_connections");
    this.faults.clear();
    if (wasRefusing) {
      void this.serialize(async () => {
        if (!this.closed && this.proc) await this.listen();
      });
    }
  }

  setVramFree(bytes: number): void {
    this.device.vramFree = bytes;
  }

  setCheckpoints(names: string[]): void {
    this.checkpoints = [...names];
  }

  unloadModels(): void {
    this.models?.clear();
  }

  addForeignPrompts(n: number, stepsEach = 5): void {
    const proc = this.process();
    const ckpt = this.env().checkpoints[0];
    for (let i = 0; i < n; i++) {
      const graph = txt2imgGraph({ ckpt, steps: stepsEach, seed: i, prefix: "foreign/img" });
      const r = submitPrompt(this, proc, { prompt: graph, client_id: FOREIGN_CLIENT_ID });
      if (r.status !== 200) throw new Error(`foreign prompt rejected: ${JSON.stringify(r.body)}`);
    }
  }

  get history(): Record<string, HistoryEntry> {
    return this.proc?.queue.getHistory() ?? {};
  }

  getQueue(): { running: QueueItem[]; pending: QueueItem[] } {
    return this.proc?.queue.current() ?? { running: [], pending: [] };
  }

  connectedClients(): string[] {
    return this.hub.connectedClients();
  }
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const dataDir =
    opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `comfy-sim-${randomUUID().slice(0, 8)}-`));
  const sim = new SimulatorImpl(dataDir, opts);
  await sim.restart();
  return sim;
}
