// How far a WebSocket client is behind in *reading*. Bytes a client has not read sit in kernel buffers
// first (megabytes on loopback), where `bufferedAmount` never sees them, so a stalled reader would get
// every progress event. A ping is queued in order behind the data; its pong proves the client has read
// everything written before it. Unread bytes are those written since the newest answered ping.
import type { WebSocket } from "ws";

/** Pings remembered while unanswered; older ones are forgotten (a newer answer proves more anyway). */
const MAX_OUTSTANDING = 8;

export class ReadAck {
  private written = 0;
  private acked = 0;
  /** Pings in flight, oldest first. A client may answer only the newest of several (RFC 6455 §5.5.3). */
  private outstanding: { token: Buffer; at: number }[] = [];
  private seq = 0;
  private retry: NodeJS.Timeout | null = null;

  constructor(
    private readonly ws: WebSocket,
    /** Ask for a new proof of reading after this many bytes. */
    private readonly everyBytes: number,
    /** The client caught up to a ping: held messages may flow again. */
    private readonly onAck: () => void,
    /** Ask again after this long without an answer, since a skipped pong must not stall the stream. */
    private readonly retryMs = 1000,
  ) {
    ws.on("pong", (data: Buffer) => {
      const i = this.outstanding.findIndex((p) => data.equals(p.token));
      if (i < 0) return;
      this.acked = Math.max(this.acked, this.outstanding[i]!.at);
      this.outstanding.splice(0, i + 1);
      if (this.outstanding.length === 0) this.stopRetry();
      this.maybePing();
      this.onAck();
    });
  }

  noteWritten(bytes: number): void {
    this.written += bytes;
    this.maybePing();
  }

  /** Bytes written that the client has not yet proved it read. */
  get unread(): number {
    return this.written - this.acked;
  }

  /** Sends a ping that proves, when answered, that everything written so far was read. Also the keep-alive. */
  probe(): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    const token = Buffer.from(`r${++this.seq}`);
    this.outstanding.push({ token, at: this.written });
    if (this.outstanding.length > MAX_OUTSTANDING) this.outstanding.shift();
    this.ws.ping(token);
    this.armRetry();
  }

  close(): void {
    this.stopRetry();
    this.outstanding = [];
  }

  private maybePing(): void {
    if (this.outstanding.length > 0 || this.written - this.acked < this.everyBytes) return;
    this.probe();
  }

  private armRetry(): void {
    this.stopRetry();
    this.retry = setTimeout(() => {
      this.retry = null;
      if (this.outstanding.length > 0 && this.written - this.acked >= this.everyBytes) this.probe();
    }, this.retryMs);
    this.retry.unref();
  }

  private stopRetry(): void {
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
  }
}
