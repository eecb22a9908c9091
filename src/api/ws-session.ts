// One WebSocket client of /api/ws: its subscriptions (some jobs or all, previews opt-in), the snapshot each
// subscribe starts with, ping/pong liveness, and the outbound queue that keeps a slow reader from costing
// more than a bounded amount of memory. Protocol: docs-snippets/events.md.
import type { Logger } from "pino";
import type { WebSocket } from "ws";
import type { z } from "zod";
import type { JobManager } from "../core/engine/job-manager.js";
import { isTerminal, type Job } from "../core/models.js";
import { AppError } from "../errors.js";
import { canSeeJob, ownerFilter, type Principal } from "./auth/principal.js";
import { errorBody, parseOrThrow } from "./error-handler.js";
import {
  type EventConsumer,
  type EventFanout,
  type OutgoingEvent,
  type OutgoingPreview,
  type StreamOptions,
  snapshotMessage,
} from "./event-fanout.js";
import { OutboundQueue } from "./outbound-queue.js";
import { ReadAck } from "./read-ack.js";
import { AuthMessageSchema, SubscribeSchema, UnsubscribeSchema } from "./schemas/events.js";

/** Jobs one socket may follow by id at once, and the active jobs an `all` subscribe snapshots. */
const MAX_JOBS_PER_SOCKET = 10_000;
const MAX_ALL_SNAPSHOTS = 1000;
/** Close code 1008 (policy violation): the client did not read its events fast enough. */
const CLOSE_TOO_SLOW = 1008;
const CLOSE_GOING_AWAY = 1001;
/** Application close code for "no valid key": 4000 + the HTTP status it stands for. */
const CLOSE_UNAUTHENTICATED = 4401;
/** A socket that opened without a key in its headers must send `auth` within this time. */
const AUTH_TIMEOUT_MS = 10_000;
/** Owner look-ups remembered for `all` subscribers that see only their own jobs. */
const MAX_OWNER_CACHE = 10_000;

const ACTIVE_STATUSES = ["queued", "dispatching", "running", "retrying"] as const;

export interface WsSessionDeps {
  jobs: JobManager;
  fanout: EventFanout;
  /** Base URL for absolute output links. */
  base: string;
  opts: StreamOptions;
  log: Logger;
  /** From the upgrade request's headers; null: the first message must be `auth`. */
  principal: Principal | null;
  /** Checks a key sent in an `auth` message (throws UNAUTHENTICATED). */
  authenticate(token: string): Principal;
  ownerOf(jobId: string): string | null | undefined;
}

export class WsSession implements EventConsumer {
  /** Set by `subscribe all`; null when only some jobs are followed. */
  private all: { previews: boolean } | null = null;
  private readonly jobs = new Map<string, { previews: boolean }>();
  private readonly queue: OutboundQueue;
  private readonly pinger: NodeJS.Timeout;
  private readonly reads: ReadAck;
  private alive = true;
  private ended = false;
  private principal: Principal | null;
  private authTimer: NodeJS.Timeout | null = null;
  private refusing = false;
  /** Job id → whether this key may see it, for events of an `all` subscription. */
  private readonly visible = new Map<string, boolean>();

  constructor(
    private readonly ws: WebSocket,
    private readonly d: WsSessionDeps,
  ) {
    const reads = new ReadAck(ws, Math.max(1024, d.opts.coalesceBytes / 4), () => this.queue.wake());
    this.reads = reads;
    this.queue = new OutboundQueue(
      {
        buffered: () => ws.bufferedAmount,
        unread: () => reads.unread,
        write: (data, flushed) => {
          if (ws.readyState !== ws.OPEN) return flushed();
          ws.send(data, () => flushed());
          reads.noteWritten(typeof data === "string" ? Buffer.byteLength(data) : data.length);
        },
      },
      d.opts,
      (unsent) => this.tooSlow(unsent),
    );
    ws.on("message", (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    ws.on("pong", () => {
      this.alive = true;
    });
    ws.on("close", () => this.end());
    this.principal = d.principal;
    if (!this.principal) {
      this.authTimer = setTimeout(
        () => this.refuse(`no "auth" message within ${AUTH_TIMEOUT_MS / 1000} s`),
        AUTH_TIMEOUT_MS,
      );
      this.authTimer.unref();
    }
    // A client that misses a whole interval without answering our ping is gone (or hopelessly stuck).
    this.pinger = setInterval(() => {
      if (!this.alive) {
        d.log.info(
          { subscriptions: this.jobs.size, all: this.all !== null },
          "event socket missed a ping: dropped",
        );
        ws.terminate();
        return;
      }
      this.alive = false;
      // One kind of ping only: a client may answer just the newest, so a bare keep-alive could hide a read proof.
      this.reads.probe();
    }, d.opts.pingIntervalMs);
    this.pinger.unref();
  }

  onEvent(out: OutgoingEvent): void {
    const id = out.event.job_id;
    if (!this.jobs.has(id) && !(this.all && this.sees(id))) return;
    const text = out.json(this.d.base);
    if (out.event.type === "job.progress") this.queue.pushLatest(`progress:${id}`, text);
    else this.queue.push(text);
    if (out.terminal) this.jobs.delete(id);
  }

  onPreview(out: OutgoingPreview): void {
    const id = out.preview.job_id;
    if (!this.wantsPreviews(id)) return;
    this.queue.pushLatest(`preview:${id}`, out.frame());
  }

  wantsPreviews(jobId: string): boolean {
    return Boolean(this.jobs.get(jobId)?.previews || (this.all?.previews && this.sees(jobId)));
  }

  /** Server shutdown: say why, then make sure the socket does not hold the server open. */
  shutdown(): void {
    this.end();
    this.ws.close(CLOSE_GOING_AWAY, "server shutting down");
    setTimeout(() => this.ws.terminate(), 1000).unref();
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    // Messages are handled in order, each once this replica's events so far are in the global stream, so
    // the snapshots a subscribe sends are never older than the events that follow them.
    if (this.d.fanout.caughtUp) this.handle(data, isBinary);
    else this.d.fanout.afterOwnEvents(() => this.handle(data, isBinary));
  }

  private handle(data: Buffer, isBinary: boolean): void {
    if (this.ended || this.refusing) return;
    try {
      if (isBinary)
        throw new AppError("VALIDATION_FAILED", "Messages must be JSON text frames", {
          fields: [{ field: "(message)", message: "binary frame" }],
        });
      let msg: unknown;
      try {
        msg = JSON.parse(data.toString("utf8"));
      } catch (err) {
        throw new AppError("MALFORMED_JSON", `The message is not valid JSON: ${(err as Error).message}`, {
          field: "(message)",
        });
      }
      const type = typeof msg === "object" && msg !== null ? (msg as { type?: unknown }).type : undefined;
      if (type === "auth") {
        this.authenticate(parseOrThrow(AuthMessageSchema, msg, "message").token);
        return;
      }
      if (!this.principal) {
        this.refuse('Send {"type": "auth", "token": KEY} first: this socket has no API key');
        return;
      }
      if (type === "subscribe") this.subscribe(parseOrThrow(SubscribeSchema, msg, "message"));
      else if (type === "unsubscribe") this.unsubscribe(parseOrThrow(UnsubscribeSchema, msg, "message"));
      else {
        throw new AppError(
          "VALIDATION_FAILED",
          `Unknown message type ${JSON.stringify(type)}; expected "subscribe", "unsubscribe" or "auth"`,
          {
            fields: [{ field: "message.type", message: 'expected "subscribe", "unsubscribe" or "auth"' }],
          },
        );
      }
    } catch (err) {
      if (err instanceof AppError) {
        this.sendError(err);
        return;
      }
      // Thrown from a socket listener it would take the process down; the client gets a plain 500-style error.
      this.d.log.error({ err }, "event socket message failed");
      this.sendError(new AppError("INTERNAL"));
    }
  }

  private authenticate(token: string): void {
    if (this.principal) {
      throw new AppError("VALIDATION_FAILED", "This socket is already authenticated", {
        fields: [{ field: "message.type", message: "auth was already accepted" }],
      });
    }
    try {
      this.principal = this.d.authenticate(token);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      this.refuse(err.message, err);
      return;
    }
    if (this.authTimer) clearTimeout(this.authTimer);
    this.queue.push(
      JSON.stringify({ type: "authenticated", key_id: this.principal.id, role: this.principal.role }),
    );
  }

  /** Says why in an error message, then closes with 4401. */
  private refuse(message: string, err?: AppError): void {
    if (this.refusing) return;
    this.refusing = true;
    this.sendError(err ?? new AppError("UNAUTHENTICATED", message, { reason: "missing_key" }));
    this.queue.whenDrained(() => {
      this.end();
      this.ws.close(CLOSE_UNAUTHENTICATED, "unauthenticated");
    });
  }

  /** Whether this socket's key may see a job; remembered, since `all` subscribers get every job's events. */
  private sees(id: string): boolean {
    const p = this.principal;
    if (!p) return false;
    if (p.role === "admin") return true;
    let ok = this.visible.get(id);
    if (ok === undefined) {
      const owner = this.d.ownerOf(id);
      ok = owner !== undefined && canSeeJob(p, owner);
      if (this.visible.size >= MAX_OWNER_CACHE) this.visible.clear();
      this.visible.set(id, ok);
    }
    return ok;
  }

  /** Snapshots first, then the ack: events that follow are newer than every snapshot (all of this is synchronous). */
  private subscribe(m: z.infer<typeof SubscribeSchema>): void {
    const seq = this.d.fanout.lastSeq;
    if (m.all) {
      this.all = { previews: m.previews };
      this.d.fanout.watchAll(this);
      for (const job of this.activeJobs()) this.queue.push(snapshotMessage(job, this.d.base, seq));
      this.queue.push(JSON.stringify({ type: "subscribed", all: true, previews: m.previews }));
      return;
    }
    const ids = [...new Set(m.job_ids)];
    const fresh = ids.filter((id) => !this.jobs.has(id)).length;
    if (this.jobs.size + fresh > MAX_JOBS_PER_SOCKET) {
      throw new AppError(
        "VALIDATION_FAILED",
        `One socket may follow at most ${MAX_JOBS_PER_SOCKET} jobs by id; use "all": true`,
        {
          fields: [{ field: "message.job_ids", message: `would follow ${this.jobs.size + fresh} jobs` }],
        },
      );
    }
    const found: string[] = [];
    const missing: string[] = [];
    for (const id of ids) {
      const job = this.find(id);
      // Another key's job is reported exactly like a job that does not exist.
      if (!job || !canSeeJob(this.principal!, job.owner)) {
        missing.push(id);
        continue;
      }
      found.push(id);
      this.queue.push(snapshotMessage(job, this.d.base, seq));
      // A job that already ended has nothing more to say: its snapshot is the whole story.
      if (!isTerminal(job.status)) {
        this.jobs.set(id, { previews: m.previews });
        this.d.fanout.watch(this, id);
      }
    }
    if (found.length > 0)
      this.queue.push(JSON.stringify({ type: "subscribed", job_ids: found, previews: m.previews }));
    if (missing.length > 0) {
      this.sendError(
        new AppError("JOB_NOT_FOUND", `No such job: ${missing.join(", ")}`, { job_ids: missing }),
      );
    }
  }

  private unsubscribe(m: z.infer<typeof UnsubscribeSchema>): void {
    if (m.all) {
      this.d.fanout.remove(this, this.jobs.keys());
      this.jobs.clear();
      this.all = null;
      this.queue.push(JSON.stringify({ type: "unsubscribed", all: true }));
      return;
    }
    const ids = [...new Set(m.job_ids)];
    for (const id of ids) {
      this.jobs.delete(id);
      this.d.fanout.unwatch(this, id);
    }
    this.queue.push(JSON.stringify({ type: "unsubscribed", job_ids: ids }));
  }

  private find(id: string): Job | null {
    try {
      return this.d.jobs.get(id);
    } catch (err) {
      if (err instanceof AppError && err.code === "JOB_NOT_FOUND") return null;
      throw err;
    }
  }

  /** Jobs not yet ended, newest first, bounded. */
  private activeJobs(): Job[] {
    const out: Job[] = [];
    let cursor: number | undefined;
    while (out.length < MAX_ALL_SNAPSHOTS) {
      const page = this.d.jobs.list({
        owner: ownerFilter(this.principal!),
        statuses: [...ACTIVE_STATUSES],
        limit: Math.min(200, MAX_ALL_SNAPSHOTS - out.length),
        cursor,
      });
      out.push(...page.jobs);
      if (!page.next_cursor) break;
      cursor = Number(page.next_cursor);
    }
    return out;
  }

  private sendError(err: AppError): void {
    this.queue.push(JSON.stringify({ type: "error", ...errorBody(err.code, err.message, err.details) }));
  }

  private tooSlow(unsent: number): void {
    this.d.log.warn(
      { unsent_kb: Math.round(unsent / 1024), subscriptions: this.jobs.size, all: this.all !== null },
      "event socket too slow: disconnected",
    );
    this.end();
    // The close frame queues behind what the client has not read; ws destroys the socket if it never answers.
    this.ws.close(
      CLOSE_TOO_SLOW,
      `too slow: over ${Math.round(this.d.opts.maxBytes / 1024)} KB of events unread`,
    );
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.pinger);
    this.reads.close();
    if (this.authTimer) clearTimeout(this.authTimer);
    this.queue.close();
    this.d.fanout.remove(this, this.jobs.keys());
    this.jobs.clear();
    this.all = null;
  }
}
