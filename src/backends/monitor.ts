// Watches one ComfyUI host: one long-lived event socket (with a client id kept across restarts, so our
// prompts' events find us again), a poll of /system_stats and /queue, and /object_info on (re)connect.
// Its state moves between online, degraded and offline on its own; each change is logged once. It also
// holds the prompts we interrupted until the host says they ended: until then the host is busy.
import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import type WebSocket from "ws";
import type { BackendConfig } from "../config.js";
import type { ComfyUIClient } from "./client.js";
import {
  applyObjectInfo,
  applyQueue,
  applyStats,
  type BackendSnapshot,
  emptySnapshot,
} from "./host-snapshot.js";
import {
  type PreviewFrame,
  parsePreviewFrame,
  parseWsMessage,
  type QueueItem,
  type WsMessage,
} from "./protocol.js";

export type { BackendSnapshot } from "./host-snapshot.js";

export type BackendState = "online" | "degraded" | "offline";

export interface MonitorOptions {
  pollIntervalMs: number;
  offlineAfter: number;
  slowResponseMs: number;
  /** Marks prompts queued by this Orchestrator in a host's queue (`extra_data.orchestrator.instance`). */
  isOurs: (item: QueueItem) => boolean;
  /** How long an interrupted prompt may keep running before the host is treated as unhealthy. */
  interruptWaitMs?: number;
}

const RECONNECT_MIN_MS = 250;
const DEFAULT_INTERRUPT_WAIT_MS = 60_000;
/** Prompt ids whose end the socket reported, remembered briefly (a Set keeps insertion order). */
const RECENTLY_ENDED_MAX = 256;
const END_EVENTS = new Set(["execution_success", "execution_error", "execution_interrupted"]);
const RECONNECT_MAX_MS = 15_000;

// Typed event signatures for the class below (declaration merging is the standard EventEmitter typing idiom).
export interface BackendMonitor {
  on(event: "state", l: (state: BackendState, prev: BackendState) => void): this;
  on(event: "message", l: (msg: WsMessage) => void): this;
  on(event: "preview", l: (promptId: string | null, frame: PreviewFrame) => void): this;
  on(event: "socket-open", l: () => void): this;
  on(event: "polled", l: () => void): this;
  /** An interrupted prompt ended: its slot can take work again. */
  on(event: "slot-freed", l: () => void): this;
}

// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: see the interface above
export class BackendMonitor extends EventEmitter {
  readonly snapshot: BackendSnapshot = emptySnapshot();
  private readonly interruptTimers = new Map<string, NodeJS.Timeout>();
  private readonly recentlyEnded = new Set<string>();
  /** When the last WS `status` arrived: a poll that started before it must not overwrite its counts. */
  private lastStatusAt = 0;
  private failures = 0;
  /** Failed polls since this monitor started (exported as a metric). */
  pollErrors = 0;
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
    private cfg: BackendConfig,
    readonly client: ComfyUIClient,
    private cid: string,
    private readonly opts: MonitorOptions,
    private readonly log: Logger,
  ) {
    super();
    this.setMaxListeners(0);
  }

  get id(): string {
    return this.cfg.id;
  }

  /** The WebSocket client id: a host sends a prompt's events only to the client id it was queued under. */
  get clientId(): string {
    return this.cid;
  }

  /**
   * Reconnects the event socket under `id`. Replicas share one client id per host for the prompts they queue
   * there, and only the host's driver may use it (a host keeps one socket per id), so the others watch
   * under ids of their own and a new driver switches to the shared one to get its prompts' events.
   */
  useClientId(id: string): void {
    if (id === this.cid) return;
    this.cid = id;
    const ws = this.ws;
    if (!ws) return; // a connect in flight sees the change when it opens; a scheduled one uses the new id
    this.ws = null;
    this.snapshot.ws_connected = false;
    ws.removeAllListeners();
    ws.on("error", () => {});
    ws.terminate();
    this.connect();
  }

  get config(): BackendConfig {
    return this.cfg;
  }

  /** New scheduling fields (name, capabilities, weight, max_inflight...); the address stays. */
  reconfigure(config: BackendConfig): void {
    this.cfg = { ...config, id: this.cfg.id, host: this.cfg.host, port: this.cfg.port, tls: this.cfg.tls };
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
    for (const t of this.interruptTimers.values()) clearTimeout(t);
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

  /**
   * We interrupted `promptId` (or it was cancelled while running): a host honours that only at a node start
   * or a progress step, so it stays busy until it reports the end. Past the wait it counts as unhealthy.
   */
  awaitEnd(promptId: string): void {
    // Its end may have overtaken the answer to our interrupt.
    if (this.snapshot.interrupting.has(promptId) || this.recentlyEnded.has(promptId)) return;
    this.snapshot.interrupting.set(promptId, { since: Date.now(), stuck: false });
    const waitMs = this.opts.interruptWaitMs ?? DEFAULT_INTERRUPT_WAIT_MS;
    const timer = setTimeout(() => {
      const entry = this.snapshot.interrupting.get(promptId);
      if (!entry) return;
      entry.stuck = true;
      this.log.warn(
        { backend_id: this.id, prompt_id: promptId, wait_ms: waitMs },
        "interrupted prompt still running; treating the backend as unhealthy until it ends",
      );
      void this.poll();
    }, waitMs);
    timer.unref();
    this.interruptTimers.set(promptId, timer);
  }

  private promptEnded(promptId: string): void {
    this.recentlyEnded.add(promptId);
    if (this.recentlyEnded.size > RECENTLY_ENDED_MAX) {
      const oldest = this.recentlyEnded.values().next();
      if (!oldest.done) this.recentlyEnded.delete(oldest.value);
    }
    this.interruptEnded(promptId);
  }

  private interruptEnded(promptId: string): void {
    const entry = this.snapshot.interrupting.get(promptId);
    if (!entry) return;
    this.snapshot.interrupting.delete(promptId);
    clearTimeout(this.interruptTimers.get(promptId));
    this.interruptTimers.delete(promptId);
    this.log.info(
      { backend_id: this.id, prompt_id: promptId, ms: Date.now() - entry.since },
      "interrupted prompt ended on backend",
    );
    if (entry.stuck) void this.poll();
    this.emit("slot-freed");
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
        applyObjectInfo(this.snapshot, await this.client.objectInfo(signal));
        this.objectInfoStale = false;
      }
      const s = this.snapshot;
      applyStats(s, stats);
      // A WS `status` that arrived after this poll started has fresher counts than its /queue.
      applyQueue(s, queue, (i) => this.opts.isOurs(i), this.lastStatusAt <= started);
      s.last_seen = new Date().toISOString();
      this.failures = 0;
      // An interrupted prompt that has left the queue has ended, even if we missed its events.
      for (const [id, entry] of s.interrupting)
        if (entry.since < started && !s.prompt_ids.has(id)) this.interruptEnded(id);
      const stuck = [...s.interrupting].find(([, e]) => e.stuck);
      const slow = Date.now() - started > this.opts.slowResponseMs;
      if (stuck)
        this.setState(
          "degraded",
          `interrupted prompt ${stuck[0]} still running ${Math.round((Date.now() - stuck[1].since) / 1000)} s later`,
        );
      else if (slow) this.setState("degraded", `slow answers (${Date.now() - started} ms)`);
      else if (!s.ws_connected) this.setState("degraded", "event socket not connected");
      else this.setState("online", null);
    } catch (err) {
      if (this.stopped) return;
      this.failures++;
      this.pollErrors++;
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
    const asId = this.cid;
    this.client.openSocket(asId).then(
      (ws) => {
        if (this.stopped || asId !== this.cid) {
          ws.terminate();
          if (!this.stopped) this.connect();
          return;
        }
        this.ws = ws;
        this.snapshot.ws_connected = true;
        // Must be the first message: it asks for previews as type-4 frames that name their prompt.
        ws.send(JSON.stringify({ type: "feature_flags", data: { supports_preview_metadata: true } }));
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
      // Type 1 (format + image) or type 4 (metadata + image); unknown types are ignored by contract.
      const frame = parsePreviewFrame(data);
      if (frame) this.emit("preview", frame.promptId ?? this.executingPrompt, frame);
      return;
    }
    const msg = parseWsMessage(data.toString("utf8"));
    if (!msg) return;
    const d = msg.data as { node?: unknown; prompt_id?: unknown; status?: unknown };
    const promptId = typeof d.prompt_id === "string" ? d.prompt_id : null;
    if (msg.type === "executing") {
      this.executingPrompt = d.node == null ? null : promptId;
      if (d.node == null && promptId) this.promptEnded(promptId);
    } else if (msg.type === "status") this.onStatus(d.status);
    else if (promptId && END_EVENTS.has(msg.type)) this.promptEnded(promptId);
    this.emit("message", msg);
  }

  /** `status` is broadcast on every queue change: fresher than the poll. One prompt runs at a time. */
  private onStatus(status: unknown): void {
    const remaining = (status as { exec_info?: { queue_remaining?: unknown } } | undefined)?.exec_info
      ?.queue_remaining;
    if (typeof remaining !== "number") return;
    this.lastStatusAt = Date.now();
    this.snapshot.queue_running = remaining > 0 ? 1 : 0;
    this.snapshot.queue_pending = Math.max(0, remaining - 1);
  }
}
