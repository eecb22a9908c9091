// PostgreSQL behind the synchronous store contract (sql.ts). A worker thread (pg-worker.mjs) owns the
// connection; each statement is posted to it and the main thread waits, bounded by `timeoutMs`, on a shared
// flag the worker raises with the answer — the same trade SQLite makes when it waits on its file, with a
// network round trip (~0.2 ms on a LAN) in place of a page read. A statement that outlives the bound fails
// with code PG_TIMEOUT (the server cancels it through statement_timeout), which StorageHealth reports.
import { MessageChannel, receiveMessageOnPort, Worker } from "node:worker_threads";
import type { SqlDatabase, SqlStatement } from "./sql.js";

interface Answer {
  id: number;
  ok: boolean;
  rows?: Record<string, unknown>[];
  changes?: number;
  error?: { message: string; code: string; detail?: string; constraint?: string };
}

export class PgError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly detail?: string,
    readonly constraint?: string,
  ) {
    super(message);
    this.name = "PgError";
  }
}

export interface PgSyncOptions {
  url: string;
  /** The longest the event loop waits for one statement. */
  timeoutMs: number;
  connectTimeoutMs?: number;
}

export class PgSyncDatabase implements SqlDatabase {
  readonly engine = "postgres" as const;
  private readonly worker: Worker;
  private readonly port;
  private readonly flag = new Int32Array(new SharedArrayBuffer(4));
  private nextId = 1;
  private depth = 0;
  private closed = false;

  constructor(private readonly opts: PgSyncOptions) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(new URL("./pg-worker.mjs", import.meta.url), {
      workerData: {
        url: opts.url,
        port: port2,
        flag: this.flag.buffer,
        statementTimeoutMs: opts.timeoutMs,
        connectTimeoutMs: opts.connectTimeoutMs ?? Math.min(opts.timeoutMs, 5000),
      },
      transferList: [port2],
      // Plain JavaScript needs no loader; and inheriting `-e`/`--eval` would run the parent's script again.
      execArgv: [],
    });
    // The worker only ever sleeps on its port; it must not keep a stopping process alive.
    this.worker.unref();
    // Answer 0 is the worker's "listening": a worker that cannot start would otherwise look like a dead server.
    try {
      this.await(0, 10_000);
    } catch {
      void this.worker.terminate();
      throw new PgError("the PostgreSQL connection thread did not start", "PG_WORKER");
    }
  }

  /** Runs one statement and returns its rows and row count. */
  query(sql: string, params: unknown[] = []): { rows: Record<string, unknown>[]; changes: number } {
    if (this.closed) throw new PgError("the database connection is closed", "PG_CLOSED");
    const id = this.nextId++;
    Atomics.store(this.flag, 0, 0);
    this.port.postMessage({ id, sql, params });
    const answer = this.await(id, this.opts.timeoutMs + 2000);
    if (!answer.ok) {
      const e = answer.error!;
      throw new PgError(e.message, String(e.code), e.detail, e.constraint);
    }
    return { rows: answer.rows ?? [], changes: answer.changes ?? 0 };
  }

  prepare(sql: string): SqlStatement {
    const { text, names } = toPg(sql);
    const args = (params: unknown[]): unknown[] => {
      const values =
        names && params.length === 1 && isRecord(params[0])
          ? names.map((n) => (params[0] as Record<string, unknown>)[n])
          : params;
      return values.map((v) => (v === undefined ? null : v));
    };
    return {
      run: (...params) => ({ changes: this.query(text, args(params)).changes }),
      get: (...params) => this.query(text, args(params)).rows[0],
      all: (...params) => this.query(text, args(params)).rows,
    };
  }

  exec(sql: string): void {
    this.query(sql);
  }

  transaction<A extends unknown[], T>(fn: (...args: A) => T): (...args: A) => T {
    return (...args: A) => {
      const name = `s${this.depth}`;
      this.query(this.depth === 0 ? "BEGIN" : `SAVEPOINT ${name}`);
      this.depth++;
      try {
        const result = fn(...args);
        this.depth--;
        this.query(this.depth === 0 ? "COMMIT" : `RELEASE SAVEPOINT ${name}`);
        return result;
      } catch (err) {
        this.depth = Math.max(0, this.depth - 1);
        try {
          this.query(this.depth === 0 ? "ROLLBACK" : `ROLLBACK TO SAVEPOINT ${name}`);
        } catch {
          // The connection is gone: the server has rolled the transaction back already.
        }
        throw err;
      }
    };
  }

  close(): void {
    if (this.closed) return;
    try {
      const id = this.nextId++;
      Atomics.store(this.flag, 0, 0);
      this.port.postMessage({ id, op: "close" });
      this.await(id, 2000);
    } catch {
      // Closing is best effort: terminate below ends the connection either way.
    }
    this.closed = true;
    void this.worker.terminate();
  }

  /** Waits for answer `id`, dropping late answers to statements that timed out before. */
  private await(id: number, boundMs: number): Answer {
    const deadline = Date.now() + boundMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0 || Atomics.wait(this.flag, 0, 0, left) === "timed-out") {
        throw new PgError(`PostgreSQL did not answer within ${boundMs} ms`, "PG_TIMEOUT");
      }
      for (let m = receiveMessageOnPort(this.port); m; m = receiveMessageOnPort(this.port)) {
        const answer = m.message as Answer;
        if (answer.id === id) {
          Atomics.store(this.flag, 0, 0);
          return answer;
        }
      }
      Atomics.store(this.flag, 0, 0);
    }
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

/**
 * SQLite placeholders to PostgreSQL's: `?` in order, or `@name` (one object argument) to `$n`; quoted text
 * is left alone. Named parameters used twice share one `$n`.
 */
export function toPg(sql: string): { text: string; names: string[] | null } {
  let out = "";
  let n = 0;
  const names: string[] = [];
  for (let i = 0; i < sql.length; i++) {
    const ch = sql[i]!;
    if (ch === "'" || ch === '"') {
      const end = sql.indexOf(ch, i + 1);
      const stop = end === -1 ? sql.length : end + 1;
      out += sql.slice(i, stop);
      i = stop - 1;
    } else if (ch === "?") {
      out += `$${++n}`;
    } else if (ch === "@" && /[A-Za-z_]/.test(sql[i + 1] ?? "")) {
      const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i + 1))![0];
      let at = names.indexOf(name);
      if (at === -1) at = names.push(name) - 1;
      out += `$${at + 1}`;
      i += name.length;
    } else {
      out += ch;
    }
  }
  return { text: out, names: names.length ? names : null };
}
