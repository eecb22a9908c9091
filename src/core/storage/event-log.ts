// The shared event log that makes JobEvents' global face on PostgreSQL: every replica appends its local
// events to `job_events` and every replica reads the table back in `seq` order, so a client on replica A
// following a job replica B runs sees every event, in order.
//
// - Appending: local events are batched per event-loop turn into one INSERT, in a transaction that first
//   takes an advisory lock. BIGSERIAL hands out numbers at insert time, not commit time; serialising the
//   appenders makes seq order equal commit order, so a reader that has seen seq N can never later find a
//   smaller one committed behind it. The transaction ends with NOTIFY orchestrator_events. A local event is
//   emitted after its state change is committed, so by the time its row exists the change is visible: a
//   snapshot read now reflects every event up to the last one delivered (JobEvents.globalLastSeq).
// - Reading: on NOTIFY, after each own append, and every 500 ms as the bound for lost notifications.
//   Each append reports which global seq this replica's events reached (JobEvents.appended), so a new
//   subscriber can wait for its own replica's events to come back before its snapshot (afterOwnEvents).
// - Sweeping: rows older than `keepMs` go, on one replica at a time (pg_try_advisory_xact_lock).
// All of it runs on async connections of its own, so the event loop never waits on the database here.

import pg from "pg";
import type { Logger } from "pino";
import type { JobEvent, JobEvents, JobEventType } from "../engine/events.js";
import type { PgListener } from "./pg-listener.js";
import type { SqlDatabase } from "./sql.js";

export const EVENTS_CHANNEL = "orchestrator_events";
const APPEND_LOCK = 727_002;
const SWEEP_LOCK = 727_003;
/** Rows per INSERT and per read, so neither statement grows without bound after an outage. */
const BATCH = 2000;
/** Events kept in memory while the database refuses appends; past it the oldest are dropped (and logged). */
const MAX_PENDING = 200_000;
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2000;

export interface EventLogOptions {
  url: string;
  /** How often every replica reads the log even without a notification. */
  pollMs?: number;
  /** How long rows are kept: longer than any replica may fall behind. */
  keepMs?: number;
  sweepEveryMs?: number;
}

export class SharedEventLog {
  private readonly pool: pg.Pool;
  private pending: JobEvent[] = [];
  /** Notifications to send once the events emitted before them are appended (notifyAfterEvents). */
  private notices = new Map<string, Set<string>>();
  private flushScheduled = false;
  private appending: Promise<void> | null = null;
  private reading = false;
  private readAgain = false;
  private last: number;
  private retryMs = RETRY_MIN_MS;
  private stopped = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly events: JobEvents,
    listener: PgListener,
    db: SqlDatabase,
    private readonly log: Logger,
    private readonly opts: EventLogOptions,
  ) {
    // Clients of this replica start at the log's end; what came before is in their snapshots.
    this.last = Number(
      (db.prepare("SELECT COALESCE(MAX(seq), 0) AS n FROM job_events").get() as { n: number }).n,
    );
    events.shareGlobally(this.last);
    this.pool = new pg.Pool({
      connectionString: opts.url,
      max: 2,
      connectionTimeoutMillis: 5000,
      statement_timeout: 10_000,
      query_timeout: 11_000,
      application_name: "orchestrator-events",
    });
    // An idle connection that drops is replaced on next use; the error must not crash the process.
    this.pool.on("error", (err) => log.debug({ err }, "an event log connection closed"));
    // One that drops while checked out, between two statements of a transaction, emits `error` on its
    // client instead (not on a query): the next statement fails and the append is retried.
    this.pool.on("connect", (c) =>
      c.on("error", (err) => log.debug({ err }, "an event log connection dropped")),
    );
    listener.on(EVENTS_CHANNEL, () => void this.read());
    listener.onReconnect(() => void this.read());
    // From the switch on: every local event must reach the log, or clients would never see it.
    this.unsubscribe = events.subscribe((e) => this.append(e));
  }

  start(): void {
    // Connected before the first event, so it is not the one that waits for a connection to open.
    void this.pool.query("SELECT 1").catch(() => {});
    const every = (ms: number, fn: () => void) => {
      const t = setInterval(fn, ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.opts.pollMs ?? 500, () => void this.read());
    every(this.opts.sweepEveryMs ?? 60_000, () => void this.sweep());
    void this.sweep(); // a replica (re)starting also clears what a stopped fleet left behind
  }

  /** Writes what is still pending (bounded by `boundMs`), then closes the connections. */
  async stop(boundMs = 3000): Promise<void> {
    this.unsubscribe?.();
    for (const t of this.timers) clearInterval(t);
    const drained = (async () => {
      while (this.pending.length > 0 || this.notices.size > 0 || this.appending)
        await (this.appending ?? this.flush());
    })();
    await Promise.race([drained, sleep(boundMs)]);
    this.stopped = true;
    if (this.pending.length > 0)
      this.log.warn({ events: this.pending.length }, "stopping with job events not yet in the shared log");
    await this.pool.end().catch(() => {});
  }

  private append(e: JobEvent): void {
    if (this.pending.length >= MAX_PENDING) {
      this.pending.splice(0, BATCH);
      this.log.error({ dropped: BATCH }, "the shared event log is unreachable: oldest job events dropped");
    }
    this.pending.push(e);
    this.schedule();
  }

  /**
   * Sends NOTIFY `channel` in the transaction that appends every event this process has emitted so far, so
   * whoever acts on it (another replica claiming a job just queued here) writes its events after those:
   * job.dispatched never precedes the job.queued it follows. Repeats before that append are sent once.
   */
  notifyAfterEvents(channel: string, payload: string): void {
    if (this.stopped) return;
    const set = this.notices.get(channel) ?? new Set<string>();
    this.notices.set(channel, set);
    set.add(payload);
    this.schedule();
  }

  private schedule(): void {
    if (this.flushScheduled || this.appending) return; // the running append picks these up next
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  /** Appends pending events batch by batch, one append at a time, so this replica's rows keep its order. */
  private flush(): Promise<void> {
    this.appending ??= (async () => {
      while ((this.pending.length > 0 || this.notices.size > 0) && !this.stopped) {
        const batch = this.pending.slice(0, BATCH);
        // Notifications ride with the batch that empties the backlog: by then it holds what preceded them.
        const notices = batch.length === this.pending.length ? this.notices : new Map<string, Set<string>>();
        if (notices === this.notices) this.notices = new Map();
        try {
          const global = await this.insert(batch, notices);
          // By identity: an overflow may have dropped the oldest events meanwhile.
          if (batch.length > 0) this.pending.splice(0, this.pending.indexOf(batch.at(-1)!) + 1);
          if (batch.length > 0) this.events.appended(batch.at(-1)!.seq, global);
          this.retryMs = RETRY_MIN_MS;
          void this.read();
        } catch (err) {
          for (const [channel, set] of notices) {
            const now = this.notices.get(channel) ?? new Set<string>();
            for (const p of set) now.add(p);
            this.notices.set(channel, now);
          }
          this.log.warn({ err, pending: this.pending.length }, "cannot append job events; retrying");
          await sleep(this.retryMs);
          this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
        }
      }
    })().finally(() => {
      this.appending = null;
    });
    return this.appending;
  }

  /** Appends one batch and sends `notices` at its commit; resolves with the global seq of its last row. */
  private async insert(batch: JobEvent[], notices: Map<string, Set<string>>): Promise<number> {
    const c = await this.pool.connect();
    try {
      await c.query("BEGIN");
      let last = 0;
      if (batch.length > 0) last = await this.insertRows(c, batch);
      const channels = batch.length > 0 ? [EVENTS_CHANNEL] : [];
      const payloads = batch.length > 0 ? [""] : [];
      for (const [channel, set] of notices) {
        for (const p of set) {
          channels.push(channel);
          payloads.push(p);
        }
      }
      await c.query("SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS t(c, p)", [
        channels,
        payloads,
      ]);
      await c.query("COMMIT");
      c.release();
      return last;
    } catch (err) {
      await c.query("ROLLBACK").catch(() => {});
      c.release(err as Error);
      throw err;
    }
  }

  private async insertRows(c: pg.PoolClient, batch: JobEvent[]): Promise<number> {
    await c.query("SELECT pg_advisory_xact_lock($1)", [APPEND_LOCK]);
    const r = await c.query(
      `WITH rows AS (INSERT INTO job_events (type, job_id, ts, data)
         SELECT t, j, s, d FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
           WITH ORDINALITY AS u(t, j, s, d, n) ORDER BY n
         RETURNING seq)
       SELECT MAX(seq) AS last FROM rows`,
      [
        batch.map((e) => e.type),
        batch.map((e) => e.job_id),
        batch.map((e) => e.ts),
        batch.map((e) => JSON.stringify(e.data)),
      ],
    );
    return Number(r.rows[0].last);
  }

  /** Delivers every row after the last one delivered, in seq order; one reader at a time. */
  private async read(): Promise<void> {
    if (this.stopped) return;
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    this.reading = true;
    try {
      do {
        this.readAgain = false;
        if (await this.skipUnwanted()) continue;
        for (;;) {
          const r = await this.pool.query(
            `SELECT seq, type, job_id, ts, data FROM job_events WHERE seq > $1 ORDER BY seq LIMIT ${BATCH}`,
            [this.last],
          );
          for (const row of r.rows) this.deliver(row);
          if (r.rows.length < BATCH || this.stopped) break;
        }
      } while (this.readAgain && !this.stopped);
    } catch (err) {
      this.log.debug({ err }, "cannot read the shared event log; the next poll retries");
    } finally {
      this.reading = false;
    }
  }

  /**
   * With nobody on this replica following events, moves past the log's end instead of reading it (a replica
   * would otherwise parse every other replica's events for no one). Returns whether it did; a subscription
   * made meanwhile voids the skip (its snapshot is at the old position), and the rows are read after all.
   */
  private async skipUnwanted(): Promise<boolean> {
    if (this.events.globalListeners > 0) return false;
    const made = this.events.globalSubscriptions;
    const r = await this.pool.query("SELECT MAX(seq) AS last FROM job_events");
    if (this.events.globalListeners > 0 || this.events.globalSubscriptions !== made) {
      this.readAgain = true;
      return true;
    }
    const last = Number(r.rows[0].last ?? 0);
    if (last > this.last) {
      this.last = last;
      this.events.skipGlobal(last);
    }
    return true;
  }

  private deliver(row: { seq: string; type: string; job_id: string; ts: string; data: string }): void {
    this.last = Number(row.seq);
    let event: JobEvent;
    try {
      const data = JSON.parse(row.data);
      event = { type: row.type as JobEventType, job_id: row.job_id, seq: this.last, ts: row.ts, data };
    } catch (err) {
      this.log.error({ err, seq: this.last }, "an unreadable row in the shared event log was skipped");
      return;
    }
    try {
      this.events.deliverGlobal(event);
    } catch (err) {
      this.log.error({ err, job_id: event.job_id }, "a job event subscriber failed");
    }
  }

  /** Drops rows older than keepMs; one replica at a time, the others skip this round. */
  private async sweep(): Promise<void> {
    if (this.stopped) return;
    const keepMs = this.opts.keepMs ?? 600_000;
    let c: pg.PoolClient | null = null;
    try {
      c = await this.pool.connect();
      await c.query("BEGIN");
      const got = await c.query("SELECT pg_try_advisory_xact_lock($1) AS ok", [SWEEP_LOCK]);
      // The cut is found by walking seq from the oldest row, so no index on created_at costs every insert.
      if (got.rows[0].ok)
        await c.query(
          `DELETE FROM job_events WHERE seq < COALESCE(
             (SELECT seq FROM job_events WHERE created_at >= now() - $1 * interval '1 millisecond'
              ORDER BY seq LIMIT 1),
             (SELECT MAX(seq) + 1 FROM job_events))`,
          [keepMs],
        );
      await c.query("COMMIT");
      c.release();
    } catch (err) {
      await c?.query("ROLLBACK").catch(() => {});
      c?.release(err as Error);
      this.log.debug({ err }, "job event sweep failed; the next one retries");
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
