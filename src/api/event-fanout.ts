// Fans the JobManager's global event stream (every replica's events) out to client connections (WebSocket
// sessions, SSE streams). Previews are the exception: they stay on the replica driving the job's host. It
// listens to JobEvents once and routes each event by job id, so the cost per event is the number of
// interested consumers, not the number of connections. The wire format of events lives here too.
import type { Logger } from "pino";
import type { JobEvent, JobEvents, JobPreview } from "../core/engine/events.js";
import type { Job } from "../core/models.js";
import { jobView, outputUrl } from "./job-view.js";
import type { QueueLimits } from "./outbound-queue.js";

/** How client streams behave: buffer limits, and how often idle ones are pinged. */
export interface StreamOptions extends QueueLimits {
  pingIntervalMs: number;
}

/** A client connection that wants some jobs' events. */
export interface EventConsumer {
  onEvent(event: OutgoingEvent): void;
  onPreview(preview: OutgoingPreview): void;
  /** Whether this consumer asked for the job's preview frames. */
  wantsPreviews?(jobId: string): boolean;
}

const TERMINAL_EVENTS: ReadonlySet<string> = new Set(["job.completed", "job.failed", "job.cancelled"]);

/** One event, serialised lazily and once per base URL (output links are absolute, so the base matters). */
export class OutgoingEvent {
  private readonly texts = new Map<string, string>();

  constructor(readonly event: JobEvent) {}

  get terminal(): boolean {
    return TERMINAL_EVENTS.has(this.event.type);
  }

  json(base: string): string {
    let text = this.texts.get(base);
    if (text === undefined) {
      text = JSON.stringify(eventMessage(this.event, base));
      this.texts.set(base, text);
    }
    return text;
  }
}

/** One preview frame, encoded once for every consumer that asked for previews. */
export class OutgoingPreview {
  private encoded: Buffer | null = null;

  constructor(readonly preview: JobPreview) {}

  frame(): Buffer {
    this.encoded ??= previewFrame(this.preview);
    return this.encoded;
  }
}

/**
 * `{type, job_id, seq, ts, ...data}`; a job.output also gets the absolute `url` of the stored file. The
 * envelope is spread last as well so event data can never overwrite it.
 */
export function eventMessage(e: JobEvent, base: string): Record<string, unknown> {
  const envelope = { type: e.type, job_id: e.job_id, seq: e.seq, ts: e.ts };
  const msg: Record<string, unknown> = { ...envelope, ...e.data, ...envelope };
  if ((e.type === "job.output" || e.type === "job.node.output") && typeof e.data.filename === "string")
    msg.url = outputUrl(base, e.job_id, e.data.filename);
  return msg;
}

/** A job's current state; `seq` is that of the last event it reflects, so later events have a higher one. */
export function snapshotMessage(job: Job, base: string, seq: number): string {
  return JSON.stringify({
    type: "job.snapshot",
    job_id: job.id,
    seq,
    ts: new Date().toISOString(),
    job: jobView(job, base),
  });
}

const PREVIEW_TYPES: Record<number, string> = { 1: "image/jpeg", 2: "image/png" };

/**
 * Binary preview frame: a 4-byte big-endian length N, then N bytes of UTF-8 JSON
 * `{"type":"job.preview","job_id","content_type"}`, then the image bytes.
 */
export function previewFrame(p: JobPreview): Buffer {
  const header = Buffer.from(
    JSON.stringify({
      type: "job.preview",
      job_id: p.job_id,
      content_type: PREVIEW_TYPES[p.format] ?? "application/octet-stream",
    }),
  );
  const length = Buffer.alloc(4);
  length.writeUInt32BE(header.length, 0);
  return Buffer.concat([length, header, p.image]);
}

export class EventFanout {
  private readonly byJob = new Map<string, Set<EventConsumer>>();
  private readonly everyJob = new Set<EventConsumer>();
  private readonly unsubscribe: Array<() => void>;
  /** Subscribed to the global stream only while some consumer watches (see follow()). */
  private offGlobal: (() => void) | null = null;

  constructor(
    readonly events: JobEvents,
    private readonly log: Logger,
  ) {
    this.unsubscribe = [events.subscribePreviews((p) => this.dispatchPreview(p))];
    events.previewInterest = (jobId) => this.wantsPreviews(jobId);
  }

  /** The seq of the last event handed out: a snapshot taken now reflects every event up to it. */
  get lastSeq(): number {
    return this.events.globalLastSeq;
  }

  /**
   * Runs `fn` (a snapshot and what follows it) once this replica's own events have reached the global
   * stream: at once on SQLite, and in call order.
   */
  afterOwnEvents(fn: () => void): void {
    this.events.afterOwnEvents(fn);
  }

  /** Whether afterOwnEvents would run at once. */
  get caughtUp(): boolean {
    return this.events.ownEventsDelivered;
  }

  wantsPreviews(jobId: string): boolean {
    for (const c of this.everyJob) if (c.wantsPreviews?.(jobId)) return true;
    for (const c of this.byJob.get(jobId) ?? []) if (c.wantsPreviews?.(jobId)) return true;
    return false;
  }

  watch(consumer: EventConsumer, jobId: string): void {
    let set = this.byJob.get(jobId);
    if (!set) {
      set = new Set();
      this.byJob.set(jobId, set);
    }
    set.add(consumer);
    this.follow();
  }

  unwatch(consumer: EventConsumer, jobId: string): void {
    const set = this.byJob.get(jobId);
    if (!set) return;
    set.delete(consumer);
    if (set.size === 0) this.byJob.delete(jobId);
    this.follow();
  }

  watchAll(consumer: EventConsumer): void {
    this.everyJob.add(consumer);
    this.follow();
  }

  unwatchAll(consumer: EventConsumer): void {
    this.everyJob.delete(consumer);
    this.follow();
  }

  /** Forgets a consumer entirely (its connection closed); `jobIds` are the jobs it watched. */
  remove(consumer: EventConsumer, jobIds: Iterable<string>): void {
    this.everyJob.delete(consumer);
    for (const id of jobIds) this.unwatch(consumer, id);
    this.follow();
  }

  /**
   * Listens to the global stream exactly while someone watches: with nobody following, a replica on
   * PostgreSQL need not read other replicas' events back at all (SharedEventLog skips them).
   */
  private follow(): void {
    const wanted = this.everyJob.size > 0 || this.byJob.size > 0;
    if (wanted && !this.offGlobal) this.offGlobal = this.events.subscribeGlobal((e) => this.dispatch(e));
    else if (!wanted && this.offGlobal) {
      this.offGlobal();
      this.offGlobal = null;
    }
  }

  close(): void {
    for (const off of this.unsubscribe) off();
    this.offGlobal?.();
    this.offGlobal = null;
    this.byJob.clear();
    this.everyJob.clear();
  }

  private dispatch(e: JobEvent): void {
    const out = new OutgoingEvent(e);
    const watchers = this.byJob.get(e.job_id);
    // A job ends once: nobody needs to watch it afterwards.
    if (out.terminal && watchers) {
      this.byJob.delete(e.job_id);
      this.follow();
    }
    for (const c of this.everyJob) this.deliver(c, out);
    if (watchers) for (const c of watchers) if (!this.everyJob.has(c)) this.deliver(c, out);
  }

  private dispatchPreview(p: JobPreview): void {
    const out = new OutgoingPreview(p);
    for (const c of this.everyJob) this.deliverPreview(c, out);
    const watchers = this.byJob.get(p.job_id);
    if (watchers) for (const c of watchers) if (!this.everyJob.has(c)) this.deliverPreview(c, out);
  }

  // A consumer's failure must never reach the JobManager, which emits synchronously.
  private deliver(c: EventConsumer, out: OutgoingEvent): void {
    try {
      c.onEvent(out);
    } catch (err) {
      this.log.error({ err, job_id: out.event.job_id }, "event consumer failed");
    }
  }

  private deliverPreview(c: EventConsumer, out: OutgoingPreview): void {
    try {
      c.onPreview(out);
    } catch (err) {
      this.log.error({ err, job_id: out.preview.job_id }, "preview consumer failed");
    }
  }
}
