// Watches one ComfyUI host: one long-lived event socket (with a client id kept across restarts, so our
// prompts' events find us again), a poll of /system_stats and /queue, and /object_info on (re)connect.
// Its state moves between online, degraded and offline on its own; each change is logged once.
import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import type WebSocket from "ws";
import type { BackendConfig } from "../config.js";
import type { ComfyUIClient } from "./client.js";
import { modelChoices, parseWsMessage, type QueueItem, type WsMessage } from "./protocol.js";

export type BackendState = "online" | "degraded" | "offline";

export interface MonitorOptions {
  pollIntervalMs: number;
  offlineAfter: number;
  slowResponseMs: number;
  /** Marks prompts queued by this Orchestrator in a host's queue (`extra_data.orchestrator.instance`). */
  isOurs: (item: QueueItem) => boolean;
}

export interface BackendSnapshot {
  state: BackendState;
  reason: string | null;
  queue_running: number;
  queue_pending: number;
  /** Prompts on the host that are not ours: what our next prompt would wait behind. */
  foreign_queued: number;
  prompt_ids: Set<string>;
  /** Our prompts the host holds, as of the last poll (to find orphans of earlier attempts). */
  ours: QueueItem[];
  running_prompt_id: string | null;
  vram_total: number | null;
  vram_free: number | null;
  /** ComfyUI's compute device, as /system_stats names it ("cuda", "cpu", "mps"…). */
  device_type: string | null;
  device_name: string | null;
  comfyui_version: string | null;
  last_seen: string | null;
  last_error: string | null;
  node_classes: Set<string> | null;
  models: Map<string, Set<string>>;
  ws_connected: boolean;
}

const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 15_000;

// Typed event signatures for the class below (declaration merging is the standard EventEmitter typing idiom).
export interface BackendMonitor {
  on(event: "state", l: (state: BackendState, prev: BackendState) => void): this;
  on(event: "message", l: (msg: WsMessage) => void): this;
  on(event: "preview", l: (promptId: string | null, frame: Buffer) => void): this;
  on(event: "socket-open", l: () => void): this;
  on(event: "polled", l: () => void): this;
}

// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: see the interface above
export class BackendMonitor extends EventEmitter {
  readonly snapshot: BackendSnapshot = {
    state: "offline",
    reason: "not contacted yet",
    queue_running: 0,
    queue_pending: 0,
    foreign_queued: 0,
    prompt_ids: new Set(),
    ours: [],
    running_prompt_id: null,
    vram_total: null,
    vram_free: null,
    device_type: null,
    device_name: null,
    comfyui_version: null,
    last_seen: null,
    last_error: null,
    node_classes: null,
    models: new Map(),
    ws_connected: false,
  };
  private failures = 0;
  private ws: WebSocket | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconnectDelay = RECONNECT_MIN_MS;
  private objectInfoStale = true;
  private stopped = true;
  private polling = false;
  private readonly abort = new AbortController();
  /** The node ComfyUI says it is executing, to attribute binary previews (which carry no prompt id). */
  private executingPrompt: string | null = null;

  constructor(
    readonly config: BackendConfig,
    readonly client: ComfyUIClient,
    readonly clientId: string,
    private readonly opts: MonitorOptions,
    private readonly log: Logger,
  ) {
    super();
    this.setMaxListeners(0);
  }

  get id(): string {
    return this.config.id;
  }

  start(): void {
    this.stopped = false;
    void this.poll();
    this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    if (this.pollTimer) clearTimeout(this.pollTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.ws?.removeAllListeners();
    this.ws?.on("error", () => {});
    this.ws?.terminate();
    this.ws = null;
    await this.client.close();
  }

  /** Re-reads /object_info at the next poll (e.g. after a custom node was installed). */
  refreshObjectInfo(): void {
    this.objectInfoStale = true;
    void this.poll();
  }

  /** Polls now instead of waiting for the timer; concurrent calls share one poll. */
  async poll(): Promise<void> {
    if (this.polling || this.stopped) return;
    this.polling = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    const started = Date.now();
    try {
      const signal = this.abort.signal;
      const [stats, queue] = await Promise.all([this.client.systemStats(signal), this.client.queue(signal)]);
      if (this.objectInfoStale) {
        const info = await this.client.objectInfo(signal);
        this.snapshot.node_classes = new Set(Object.keys(info));
        const models = new Map<string, Set<string>>();
        for (const cls of Object.values(info)) {
          for (const [input, choices] of modelChoices(cls)) {
            const set = models.get(input) ?? new Set<string>();
            for (const c of choices) set.add(c);
            models.set(input, set);
          }
        }
        this.snapshot.models = models;
        this.objectInfoStale = false;
      }
      const s = this.snapshot;
      const device = stats.devices[0];
      s.vram_total = device ? device.vram_total : null;
      s.vram_free = device ? device.vram_free : null;
      s.device_type = device?.type ?? null;
      s.device_name = device?.name ?? null;
      s.comfyui_version = stats.system?.comfyui_version ?? null;
      s.queue_running = queue.running.length;
      s.queue_pending = queue.pending.length;
      const items = [...queue.running, ...queue.pending];
      s.ours = items.filter((i) => this.opts.isOurs(i));
      s.foreign_queued = items.length - s.ours.length;
      s.prompt_ids = new Set([...queue.running, ...queue.pending].map((i) => i.prompt_id));
      s.running_prompt_id = queue.running[0]?.prompt_id ?? null;
      s.last_seen = new Date().toISOString();
      this.failures = 0;
      const slow = Date.now() - started > this.opts.slowResponseMs;
      if (slow) this.setState("degraded", `slow answers (${Date.now() - started} ms)`);
      else if (!s.ws_connected) this.setState("degraded", "event socket not connected");
      else this.setState("online", null);
    } catch (err) {
      if (this.stopped) return;
      this.failures++;
      // A host that was never reachable stays `offline` without a state change: say so once, not per poll.
      if (this.failures === 1 && this.snapshot.last_seen === null) {
        this.log.warn({ backend_id: this.id, err: (err as Error).message }, "backend unreachable");
      }
      this.snapshot.last_error = (err as Error).message;
      // Host restarts lose custom nodes or models as often as they gain them: re-read on recovery.
      this.objectInfoStale = true;
      if (this.failures >= this.opts.offlineAfter) this.setState("offline", (err as Error).message);
      else if (this.snapshot.state !== "offline") this.setState("degraded", (err as Error).message);
    } finally {
      this.polling = false;
      if (!this.stopped) {
        this.pollTimer = setTimeout(() => void this.poll(), this.opts.pollIntervalMs);
        this.pollTimer.unref();
      }
      this.emit("polled");
    }
  }

  private setState(state: BackendState, reason: string | null): void {
    const prev = this.snapshot.state;
    this.snapshot.reason = reason;
    if (prev === state) return;
    this.snapshot.state = state;
    const fields = { backend_id: this.id, state, previous: prev, reason };
    if (state === "offline") this.log.warn(fields, "backend offline");
    else this.log.info(fields, `backend ${state}`);
    this.emit("state", state, prev);
  }

  private connect(): void {
    if (this.stopped) return;
    this.client.openSocket(this.clientId).then(
      (ws) => {
        if (this.stopped) {
          ws.terminate();
          return;
        }
        this.ws = ws;
        this.snapshot.ws_connected = true;
        this.reconnectDelay = RECONNECT_MIN_MS;
        this.log.debug({ backend_id: this.id }, "event socket connected");
        ws.on("message", (data, isBinary) => this.onFrame(data as Buffer, isBinary));
        ws.on("error", (err) =>
          this.log.debug({ backend_id: this.id, err: err.message }, "event socket error"),
        );
        ws.on("close", () => {
          this.ws = null;
          this.snapshot.ws_connected = false;
          if (this.stopped) return;
          this.log.info({ backend_id: this.id }, "event socket closed; reconnecting");
          this.scheduleReconnect();
          void this.poll();
        });
        this.emit("socket-open");
        void this.poll();
      },
      () => this.scheduleReconnect(),
    );
  }

  /** Capped exponential backoff with full jitter, so a fleet of Orchestrators does not reconnect in step. */
  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    const delay = Math.random() * this.reconnectDelay;
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, RECONNECT_MAX_MS);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
    this.reconnectTimer.unref();
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    if (isBinary) {
      // Type 1 = preview image (4-byte type, 4-byte format, bytes). Unknown types are ignored by contract.
      if (data.length >= 8 && data.readUInt32BE(0) === 1) this.emit("preview", this.executingPrompt, data);
      return;
    }
    const msg = parseWsMessage(data.toString("utf8"));
    if (!msg) return;
    if (msg.type === "executing") {
      const d = msg.data as { node?: unknown; prompt_id?: unknown };
      this.executingPrompt = d.node == null ? null : typeof d.prompt_id === "string" ? d.prompt_id : null;
    }
    this.emit("message", msg);
  }
}
