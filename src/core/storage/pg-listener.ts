// One asynchronous PostgreSQL connection that LISTENs for what other replicas announce (new queued work,
// new event rows) and sends this replica's announcements. It lives in the async world, beside the
// synchronous store bridge (pg-sync.ts), so waiting for a notification never blocks the event loop. A lost
// connection is reopened with backoff and every channel LISTENed again; notifications sent while it was
// down are lost, which is why every receiver also has a periodic re-read as its bound.

import pg from "pg";
import type { Logger } from "pino";

export type NotificationHandler = (payload: string) => void;

const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 5000;

export class PgListener {
  private client: pg.Client | null = null;
  private readonly handlers = new Map<string, NotificationHandler[]>();
  private readonly reconnectHandlers: (() => void)[] = [];
  /** Announcements waiting for the end of this event-loop turn, by channel, deduplicated. */
  private pending = new Map<string, Set<string>>();
  private flushScheduled = false;
  private backoffMs = BACKOFF_MIN_MS;
  private retryTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private connecting: Promise<void> | null = null;

  constructor(
    private readonly url: string,
    private readonly log: Logger,
  ) {}

  /** Calls `handler` with each payload sent on `channel` by another connection. Register before start(). */
  on(channel: string, handler: NotificationHandler): void {
    const list = this.handlers.get(channel) ?? [];
    list.push(handler);
    this.handlers.set(channel, list);
  }

  /** Called after every reconnect (notifications may have been missed meanwhile: re-read). */
  onReconnect(handler: () => void): void {
    this.reconnectHandlers.push(handler);
  }

  /** Connects and LISTENs; resolves once listening or after the first failure (retries continue). */
  start(): Promise<void> {
    return this.connect(false);
  }

  get listening(): boolean {
    return this.client !== null;
  }

  /**
   * Sends `payload` on `channel` at the end of this event-loop turn, with every other payload of the turn in
   * one statement; repeats within a turn are sent once. Lost if the connection is down (receivers re-read).
   */
  notify(channel: string, payload: string): void {
    if (this.stopped) return;
    const set = this.pending.get(channel) ?? new Set<string>();
    this.pending.set(channel, set);
    set.add(payload);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.connecting?.catch(() => {});
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => {});
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = new Map();
    const c = this.client;
    if (!c) return;
    const channels: string[] = [];
    const payloads: string[] = [];
    for (const [channel, set] of batch) {
      for (const p of set) {
        channels.push(channel);
        payloads.push(p);
      }
    }
    c.query("SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS t(c, p)", [
      channels,
      payloads,
    ]).catch((err) => this.log.debug({ err }, "a replica notification was not sent"));
  }

  private connect(isRetry: boolean): Promise<void> {
    this.connecting = this.open(isRetry).finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async open(isRetry: boolean): Promise<void> {
    if (this.stopped) return;
    const c = new pg.Client({
      connectionString: this.url,
      connectionTimeoutMillis: 5000,
      application_name: "orchestrator-listen",
      keepAlive: true,
    });
    c.on("notification", (n) => {
      // Our own announcements come back too; this replica already acted on them.
      if (n.processId === (c as unknown as { processID: number }).processID) return;
      for (const h of this.handlers.get(n.channel) ?? []) {
        try {
          h(n.payload ?? "");
        } catch (err) {
          this.log.error({ err, channel: n.channel }, "a replica notification handler failed");
        }
      }
    });
    c.on("error", (err) => this.lost(c, err));
    c.on("end", () => this.lost(c, null));
    try {
      await c.connect();
      for (const channel of this.handlers.keys()) await c.query(`LISTEN ${quoteIdent(channel)}`);
    } catch (err) {
      c.removeAllListeners("end");
      c.removeAllListeners("error");
      c.on("error", () => {});
      await c.end().catch(() => {});
      this.log.warn({ err, retry_ms: this.backoffMs }, "cannot LISTEN on PostgreSQL; retrying");
      this.retry();
      return;
    }
    if (this.stopped) {
      await c.end().catch(() => {});
      return;
    }
    this.client = c;
    this.backoffMs = BACKOFF_MIN_MS;
    if (isRetry) {
      this.log.info("PostgreSQL LISTEN connection restored");
      for (const h of this.reconnectHandlers) h();
    }
  }

  private lost(c: pg.Client, err: Error | null): void {
    if (this.client !== c) return;
    this.client = null;
    if (this.stopped) return;
    this.log.warn({ err }, "PostgreSQL LISTEN connection lost; reconnecting");
    c.on("error", () => {});
    void c.end().catch(() => {});
    this.retry();
  }

  private retry(): void {
    if (this.stopped || this.retryTimer) return;
    const wait = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect(true);
    }, wait);
    this.retryTimer.unref();
  }
}

const quoteIdent = (s: string) => `"${s.replace(/"/g, '""')}"`;
