// Whether the database can take writes. A lock held by another process (a backup tool, a second server)
// or a full disk makes every write fail; instead of each caller finding out the slow way, the first
// failure marks storage unavailable, writers refuse at once (503 STORAGE_UNAVAILABLE), and a probe every
// PROBE_MS finds the moment writes work again, which it announces so deferred work resumes by itself.
import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import { AppError } from "../../errors.js";
import type { SqlDatabase } from "./sql.js";

export type StorageState = "ok" | "locked" | "full" | "unreachable" | "error";

const PROBE_MS = 500;
/** What the probe writes (and deletes again in the same commit): enough to need fresh space on the disk. */
const PROBE_BYTES = 64 * 1024;

/** Storage trouble an error stands for, or null when it is not a storage failure (a bug, a constraint). */
export function storageStateOf(err: unknown): Exclude<StorageState, "ok"> | null {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return null;
  // Only PostgreSQL's own errors (pg-sync.ts): a socket error of a client request has codes like these too.
  if (!code.startsWith("SQLITE_")) return (err as Error).name === "PgError" ? pgStateOf(code) : null;
  if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) return "locked";
  // A file-size limit (EFBIG) surfaces as a failed write, ENOSPC as SQLITE_FULL.
  if (code === "SQLITE_FULL" || code === "SQLITE_IOERR_WRITE") return "full";
  if (code.startsWith("SQLITE_IOERR") || code === "SQLITE_CANTOPEN") return "error";
  return null;
}

/** PostgreSQL's SQLSTATE classes (and our bridge's own codes) that mean the server cannot take writes now. */
function pgStateOf(code: string): Exclude<StorageState, "ok"> | null {
  if (code === "53100") return "full";
  if (code === "55P03" || code === "40P01" || code === "57014") return "locked";
  if (
    code.startsWith("08") ||
    code.startsWith("57P") ||
    code === "PG_TIMEOUT" ||
    code.startsWith("PG_C") ||
    code === "PG_ERROR"
  ) {
    return "unreachable";
  }
  if (["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENOTFOUND", "EPIPE"].includes(code)) {
    return "unreachable";
  }
  if (code.startsWith("53") || code === "25P02") return "error";
  return null;
}

export class StorageHealth extends EventEmitter<{ recovered: [] }> {
  private current: StorageState = "ok";
  private since: string | null = null;
  private probeTimer: NodeJS.Timeout | null = null;
  private readonly probeStmt;

  constructor(
    private readonly db: SqlDatabase,
    private readonly log: Logger,
  ) {
    super();
    this.probeStmt = {
      put: db.prepare(`INSERT INTO meta (key, value) VALUES ('storage_probe', ?)
        ON CONFLICT (key) DO UPDATE SET value = excluded.value`),
      drop: db.prepare("DELETE FROM meta WHERE key = 'storage_probe'"),
    };
  }

  get state(): StorageState {
    return this.current;
  }

  get ok(): boolean {
    return this.current === "ok";
  }

  /** Records `err` if it is a storage failure; true when it was (the caller then gives up quietly). */
  report(err: unknown): boolean {
    const state = storageStateOf(err);
    if (!state) return false;
    if (this.current !== state) {
      this.current = state;
      this.since = new Date().toISOString();
      this.log.error({ err, database: state }, "database unavailable: refusing writes until it recovers");
    }
    this.probeTimer ??= setInterval(() => this.probe(), PROBE_MS);
    this.probeTimer.unref();
    return true;
  }

  /** Throws 503 STORAGE_UNAVAILABLE while writes are known to fail. */
  assertWritable(): void {
    if (this.ok) return;
    throw unavailable(this.current, this.since);
  }

  /** The client-facing error for a storage failure `err` (recording it), or null. */
  toAppError(err: unknown): AppError | null {
    return this.report(err) ? unavailable(this.current, this.since) : null;
  }

  stop(): void {
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = null;
  }

  private probe(): void {
    try {
      this.db.transaction(() => {
        this.probeStmt.put.run(Buffer.alloc(PROBE_BYTES, 0x2a).toString("latin1"));
        this.probeStmt.drop.run();
      })();
    } catch (err) {
      const state = storageStateOf(err) ?? "error";
      if (state !== this.current) this.current = state;
      return;
    }
    this.log.info({ database: "ok", unavailable_since: this.since }, "database writable again");
    this.current = "ok";
    this.since = null;
    this.stop();
    this.emit("recovered");
  }
}

function unavailable(state: StorageState, since: string | null): AppError {
  const why =
    state === "locked"
      ? "is locked by another process"
      : state === "full"
        ? "disk is full"
        : state === "unreachable"
          ? "server cannot be reached"
          : "fails";
  return new AppError("STORAGE_UNAVAILABLE", `The job database ${why}; nothing was stored, retry later`, {
    database: state,
    since,
    retry_after_s: 5,
  });
}
