// One Server-Sent Events client of GET /api/job/:id/events: the job's snapshot, then its events, ending
// after the terminal one. Shares the WebSocket path's backpressure: progress coalesces, state never drops.
import type { ServerResponse } from "node:http";
import type { Logger } from "pino";
import { isTerminal, type Job } from "../core/models.js";
import {
  type EventConsumer,
  type EventFanout,
  type OutgoingEvent,
  type StreamOptions,
  snapshotMessage,
} from "./event-fanout.js";
import { OutboundQueue } from "./outbound-queue.js";

export interface SseDeps {
  fanout: EventFanout;
  base: string;
  opts: StreamOptions;
  log: Logger;
}

const frame = (seq: number, type: string, json: string) => `id: ${seq}\nevent: ${type}\ndata: ${json}\n\n`;

export class SseStream implements EventConsumer {
  private readonly queue: OutboundQueue;
  private keepAlive: NodeJS.Timeout | null = null;
  private ended = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly job: Job,
    private readonly d: SseDeps,
  ) {
    this.queue = new OutboundQueue(
      {
        buffered: () => res.writableLength,
        write: (data, flushed) => {
          if (!res.destroyed && !res.writableEnded) res.write(data, () => flushed());
          else flushed();
        },
      },
      d.opts,
      (unsent) => {
        d.log.warn(
          { job_id: job.id, unsent_kb: Math.round(unsent / 1024) },
          "event stream too slow: disconnected",
        );
        this.end();
        res.destroy();
      },
    );
  }

  /** Sends the headers and the snapshot; follows the job unless it has already ended. */
  start(): void {
    const { res, job, d } = this;
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      connection: "keep-alive",
      // Reverse proxies (nginx) would otherwise buffer the stream and the client would see nothing live.
      "x-accel-buffering": "no",
    });
    res.on("close", () => this.end());
    const seq = d.fanout.lastSeq;
    this.queue.push(frame(seq, "job.snapshot", snapshotMessage(job, d.base, seq)));
    if (isTerminal(job.status)) {
      this.finish();
      return;
    }
    d.fanout.watch(this, job.id);
    // A comment line now and then keeps proxies and load balancers from closing an idle stream.
    this.keepAlive = setInterval(
      () => this.queue.pushLatest("keepalive", ": keepalive\n\n"),
      d.opts.pingIntervalMs,
    );
    this.keepAlive.unref();
  }

  onEvent(out: OutgoingEvent): void {
    const e = out.event;
    if (this.ended || e.job_id !== this.job.id) return;
    const text = frame(e.seq, e.type, out.json(this.d.base));
    if (e.type === "job.progress") this.queue.pushLatest("progress", text);
    else this.queue.push(text);
    if (out.terminal) this.finish();
  }

  onPreview(): void {
    // Previews are binary: WebSocket clients only.
  }

  shutdown(): void {
    this.end();
    if (!this.res.writableEnded) this.res.end();
  }

  /** Ends the response once everything queued has been written. */
  private finish(): void {
    this.stopFollowing();
    this.queue.whenDrained(() => {
      this.end();
      this.res.end();
    });
  }

  private stopFollowing(): void {
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.keepAlive = null;
    this.d.fanout.unwatch(this, this.job.id);
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.stopFollowing();
    this.queue.close();
  }
}
