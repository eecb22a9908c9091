// The JobManager's event stream, with two faces. The local face (`subscribe`, `lastSeq`) is this process's
// events, delivered synchronously as they happen: what internal consumers (webhooks, metrics, fleet) follow.
// The global face (`subscribeGlobal`, `globalLastSeq`) is what clients see (WebSocket, SSE, ?wait): on
// SQLite it is the local face itself; on PostgreSQL it is every replica's events read back from the shared
// log (storage/event-log.ts) in its `seq` order. Either way `seq` is monotonic, so a client can order
// events and detect gaps.
import { EventEmitter } from "node:events";

export const JOB_EVENT_TYPES = [
  "job.queued",
  "job.dispatched",
  "job.running",
  "job.progress",
  "job.output",
  "job.retrying",
  "job.completed",
  "job.failed",
  "job.cancelled",
  // A multi-node project's runs (job_id is the project's, with project_node and variant).
  "job.node.queued",
  "job.node.dispatched",
  "job.node.running",
  "job.node.progress",
  "job.node.output",
  "job.node.retrying",
  "job.node.completed",
  "job.node.failed",
  "job.node.cancelled",
  "job.node.skipped",
] as const;
export type JobEventType = (typeof JOB_EVENT_TYPES)[number];

export interface JobEvent {
  type: JobEventType;
  job_id: string;
  seq: number;
  ts: string;
  data: Record<string, unknown>;
}

export interface JobPreview {
  job_id: string;
  /** 1 = JPEG, 2 = PNG, as ComfyUI numbers them. */
  format: number;
  image: Buffer;
}

/** The longest a subscriber waits for this process's own events to come back from the shared log. */
const OWN_EVENTS_WAIT_MS = 2000;

interface SharedState {
  /** The last global seq delivered. */
  seq: number;
  /** This process's events are in the log up to this local seq, the last of them as `appendedGlobal`. */
  appendedLocal: number;
  appendedGlobal: number;
  /** Subscribers waiting for this process's events to come back (afterOwnEvents), in call order. */
  waiters: { local: number; target: number | null; fn: () => void; deadline: number }[];
  timer: NodeJS.Timeout | null;
}

export class JobEvents {
  private readonly emitter = new EventEmitter();
  private seq = 0;
  /** On PostgreSQL: the global stream comes from the shared log (see SharedState). */
  private shared: SharedState | null = null;

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  /** The seq of the last event emitted: a snapshot taken now reflects every event up to it. */
  get lastSeq(): number {
    return this.seq;
  }

  /** The seq of the last event clients were given: a snapshot taken now reflects every event up to it. */
  get globalLastSeq(): number {
    return this.shared ? this.shared.seq : this.seq;
  }

  emit(type: JobEventType, jobId: string, data: Record<string, unknown> = {}): JobEvent {
    const event: JobEvent = { type, job_id: jobId, seq: ++this.seq, ts: new Date().toISOString(), data };
    this.emitter.emit("event", event);
    if (!this.shared) this.emitter.emit("global", event);
    return event;
  }

  /**
   * From now on the global face carries only what `deliverGlobal` is given (the shared log, read back in
   * order), starting after `seq`: local events reach clients once they are in the log.
   */
  shareGlobally(seq: number): void {
    this.shared = { seq, appendedLocal: this.seq, appendedGlobal: seq, waiters: [], timer: null };
  }

  /** How many listen to the global face now, and how many subscriptions were ever made (a change counter). */
  get globalListeners(): number {
    return this.emitter.listenerCount("global");
  }
  globalSubscriptions = 0;

  /**
   * Nobody listened to events up to `seq` of the shared log, so they were not read: the global face moves
   * past them (their state changes are committed, so a snapshot now reflects them).
   */
  skipGlobal(seq: number): void {
    const s = this.shared;
    if (!s || seq <= s.seq) return;
    s.seq = seq;
    if (s.waiters.length > 0) this.runWaiters();
  }

  /** One event of the shared log, in seq order; its state change was committed before it was. */
  deliverGlobal(event: JobEvent): void {
    if (!this.shared) throw new Error("deliverGlobal without shareGlobally");
    this.shared.seq = event.seq;
    this.emitter.emit("global", event);
    if (this.shared.waiters.length > 0) this.runWaiters();
  }

  /** The shared log now holds this process's events up to local seq `local`, the last as global `global`. */
  appended(local: number, global: number): void {
    const s = this.shared;
    if (!s) return;
    s.appendedLocal = local;
    s.appendedGlobal = global;
    for (const w of s.waiters) if (w.target === null && w.local <= local) w.target = global;
    this.runWaiters();
  }

  /** Whether every event this process emitted has reached the global face (always, on SQLite). */
  get ownEventsDelivered(): boolean {
    const s = this.shared;
    return !s || (s.waiters.length === 0 && s.appendedLocal >= this.seq && s.appendedGlobal <= s.seq);
  }

  /**
   * Calls `fn` once every event this process has emitted so far reached the global face (at once on
   * SQLite), in the order of the calls. A snapshot taken then shows no state whose event is still to come
   * from here (a client that submits and subscribes at once gets no stale job.queued after its snapshot).
   * Waits at most OWN_EVENTS_WAIT_MS: past it, a log that cannot be written does not hold subscribers up.
   */
  afterOwnEvents(fn: () => void): void {
    const s = this.shared;
    if (!s || this.ownEventsDelivered) {
      fn();
      return;
    }
    const local = this.seq;
    const target = s.appendedLocal >= local ? s.appendedGlobal : null;
    s.waiters.push({ local, target, fn, deadline: Date.now() + OWN_EVENTS_WAIT_MS });
    if (!s.timer) {
      s.timer = setTimeout(() => {
        s.timer = null;
        this.runWaiters();
      }, OWN_EVENTS_WAIT_MS);
      s.timer.unref();
    }
  }

  private runWaiters(): void {
    const s = this.shared!;
    const now = Date.now();
    while (s.waiters.length > 0) {
      const w = s.waiters[0]!;
      if (!(w.target !== null && w.target <= s.seq) && w.deadline > now) break;
      s.waiters.shift();
      w.fn();
    }
    if (s.waiters.length > 0 && !s.timer) {
      s.timer = setTimeout(
        () => {
          s.timer = null;
          this.runWaiters();
        },
        Math.max(1, s.waiters[0]!.deadline - now),
      );
      s.timer.unref();
    }
  }

  /**
   * Whether anyone follows this job's previews now; set by the API layer, which knows its subscribers. Asked
   * when a prompt is queued, since a ComfyUI host renders previews only for prompts that request them.
   */
  previewInterest: (jobId: string) => boolean = () => false;

  emitPreview(preview: JobPreview): void {
    this.emitter.emit("preview", preview);
  }

  /** This process's events, as they happen (internal consumers). Returns the unsubscribe function. */
  subscribe(listener: (e: JobEvent) => void): () => void {
    this.emitter.on("event", listener);
    return () => this.emitter.off("event", listener);
  }

  /** Every replica's events, in global seq order (what clients see). Returns the unsubscribe function. */
  subscribeGlobal(listener: (e: JobEvent) => void): () => void {
    this.globalSubscriptions++;
    this.emitter.on("global", listener);
    return () => this.emitter.off("global", listener);
  }

  subscribePreviews(listener: (p: JobPreview) => void): () => void {
    this.emitter.on("preview", listener);
    return () => this.emitter.off("preview", listener);
  }
}
