// One client connection's outgoing messages, with backpressure: while the socket's own buffer is above a
// soft limit we hold messages here and keep only the newest of each coalescible kind (a job's progress,
// its preview); state changes are never dropped. Past a hard limit the client is given up on, so a slow
// reader costs bounded memory and never slows the JobManager that emits the events.

/** Where the messages go: a WebSocket or an HTTP response. */
export interface Sink {
  /** Bytes accepted by the socket but not yet handed to the kernel. */
  buffered(): number;
  /** Writes one message; `flushed` runs once it has left the process buffer (or the write failed). */
  write(data: string | Buffer, flushed: () => void): void;
  /**
   * Bytes the client has not yet proved it read (kernel buffers included), where the transport can tell;
   * while above the soft limit messages wait here, and `wake()` is called when the client catches up.
   */
  unread?(): number;
}

export interface QueueLimits {
  /** Above this many buffered bytes, messages wait here and coalescible ones replace each other. */
  coalesceBytes: number;
  /** Above this many unsent bytes (ours plus the socket's), the consumer is cut off. */
  maxBytes: number;
  /** Counts for the metrics endpoint. */
  stats?: StreamStats;
}

export interface StreamStats {
  opened(transport: "ws" | "sse"): void;
  closed(transport: "ws" | "sse"): void;
  coalesced(): void;
  dropped(): void;
}

interface Entry {
  data: string | Buffer;
  bytes: number;
  key: string | null;
  dropped: boolean;
}

/** Once this many sent entries sit at the head of the array it is compacted, so memory stays bounded. */
const COMPACT_AT = 1024;

export class OutboundQueue {
  private entries: Entry[] = [];
  private head = 0;
  /** Coalescing key → its one entry still waiting. */
  private readonly latest = new Map<string, Entry>();
  private bytes = 0;
  /** Our writes the socket has not yet confirmed; while there are none, nothing would wake a waiting queue. */
  private outstanding = 0;
  private closed = false;
  private flushing = false;
  private onEmpty: (() => void) | null = null;

  constructor(
    private readonly sink: Sink,
    private readonly limits: QueueLimits,
    /** Called once when the consumer falls more than `maxBytes` behind; the queue is closed by then. */
    private readonly onOverflow: (unsentBytes: number) => void,
  ) {}

  /** A message that must arrive (snapshots, state changes, errors). */
  push(data: string | Buffer): void {
    this.enqueue(data, null);
  }

  /** A message only the newest of which matters (per `key`): replaces a waiting one, which is dropped. */
  pushLatest(key: string, data: string | Buffer): void {
    if (this.closed) return;
    const old = this.latest.get(key);
    if (old) {
      // Dropped in place and the newer one appended, so messages still leave in seq order.
      old.dropped = true;
      this.bytes -= old.bytes;
      this.limits.stats?.coalesced();
    }
    this.enqueue(data, key);
  }

  /** The client read more (see Sink.unread): held messages may go. */
  wake(): void {
    this.flush();
  }

  /** Runs `cb` once every queued message has been handed to the socket. */
  whenDrained(cb: () => void): void {
    this.onEmpty = cb;
    this.flush();
  }

  /** Bytes waiting here (not counting the socket's own buffer). */
  get pending(): number {
    return this.bytes;
  }

  close(): void {
    this.closed = true;
    this.entries = [];
    this.head = 0;
    this.latest.clear();
    this.bytes = 0;
    this.onEmpty = null;
  }

  private enqueue(data: string | Buffer, key: string | null): void {
    if (this.closed) return;
    const entry: Entry = {
      data,
      bytes: typeof data === "string" ? Buffer.byteLength(data) : data.length,
      key,
      dropped: false,
    };
    this.entries.push(entry);
    if (key) this.latest.set(key, entry);
    this.bytes += entry.bytes;
    this.flush();
    const unsent = this.bytes + this.sink.buffered();
    if (!this.closed && unsent > this.limits.maxBytes) {
      this.close();
      this.limits.stats?.dropped();
      this.onOverflow(unsent);
    }
  }

  // Every write's callback retries the flush: whichever drains the socket first wakes the queue.
  private readonly written = (): void => {
    this.outstanding--;
    this.flush();
  };

  private flush(): void {
    if (this.flushing || this.closed) return;
    this.flushing = true;
    try {
      // A full buffer that holds none of our writes (only pings, say) must not stall us: write anyway.
      while (
        this.head < this.entries.length &&
        (this.outstanding === 0 || this.sink.buffered() < this.limits.coalesceBytes) &&
        (this.sink.unread?.() ?? 0) < this.limits.coalesceBytes
      ) {
        const entry = this.entries[this.head++]!;
        if (entry.key && this.latest.get(entry.key) === entry) this.latest.delete(entry.key);
        if (entry.dropped) continue;
        this.bytes -= entry.bytes;
        this.outstanding++;
        this.sink.write(entry.data, this.written);
      }
      if (this.head === this.entries.length) {
        this.entries = [];
        this.head = 0;
      } else if (this.head >= COMPACT_AT) {
        this.entries = this.entries.slice(this.head);
        this.head = 0;
      }
    } finally {
      this.flushing = false;
    }
    if (this.head === this.entries.length && this.onEmpty) {
      const cb = this.onEmpty;
      this.onEmpty = null;
      cb();
    }
  }
}
