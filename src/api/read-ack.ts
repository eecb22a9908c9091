// How far a WebSocket client is behind in *reading*. Bytes a client has not read sit in kernel buffers
// first (megabytes on loopback), where `bufferedAmount` never sees them, so a stalled reader would get
// every progress event. A ping is queued in order behind the data; its pong proves the client has read
// everything written before it. Unread bytes are those written since the last answered ping.
import type { WebSocket } from "ws";

export class ReadAck {
  private written = 0;
  private acked = 0;
  private pending: { token: Buffer; at: number } | null = null;
  private seq = 0;

  constructor(
    private readonly ws: WebSocket,
    /** Ask for a new proof of reading after this many bytes. */
    private readonly everyBytes: number,
    /** The client caught up to a ping: held messages may flow again. */
    private readonly onAck: () => void,
  ) {
    ws.on("pong", (data: Buffer) => {
      if (!this.pending || !data.equals(this.pending.token)) return;
      this.acked = this.pending.at;
      this.pending = null;
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

  private maybePing(): void {
    if (this.pending || this.written - this.acked < this.everyBytes) return;
    if (this.ws.readyState !== this.ws.OPEN) return;
    const token = Buffer.from(`r${++this.seq}`);
    this.pending = { token, at: this.written };
    this.ws.ping(token);
  }
}
