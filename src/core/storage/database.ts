// Opens the SQLite database and brings its schema up to date. WAL lets readers (the API) run beside the
// single writer (the JobManager) without blocking it.
import { mkdirSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { migratePg, PG_SCHEMA_VERSION } from "./pg-schema.js";
import { PgSyncDatabase } from "./pg-sync.js";
import { type SqlDatabase, sqliteDatabase } from "./sql.js";

const MIGRATIONS: string[] = [
  `CREATE TABLE jobs (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     status TEXT NOT NULL,
     workflow_id TEXT NOT NULL,
     workflow_version TEXT NOT NULL,
     parameters TEXT NOT NULL,
     graph TEXT NOT NULL,
     requires TEXT NOT NULL,
     min_vram_gb REAL,
     timeout_s REAL NOT NULL,
     priority INTEGER NOT NULL DEFAULT 0,
     idempotency_key TEXT,
     webhook_url TEXT,
     metadata TEXT,
     inputs TEXT NOT NULL DEFAULT '[]',
     backend_id TEXT,
     prompt_id TEXT,
     attempt INTEGER NOT NULL DEFAULT 0,
     max_attempts INTEGER NOT NULL,
     progress TEXT,
     error TEXT,
     outputs_expired INTEGER NOT NULL DEFAULT 0,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     started_at TEXT,
     finished_at TEXT,
     not_before TEXT
   );
   CREATE INDEX jobs_queue ON jobs (status, priority DESC, seq);
   CREATE INDEX jobs_status_created ON jobs (status, created_at);
   CREATE INDEX jobs_idempotency ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;
   CREATE TABLE job_outputs (
     job_id TEXT NOT NULL,
     filename TEXT NOT NULL,
     node_id TEXT NOT NULL,
     comfy_filename TEXT NOT NULL,
     comfy_subfolder TEXT NOT NULL,
     comfy_type TEXT NOT NULL,
     kind TEXT NOT NULL,
     content_type TEXT NOT NULL,
     size INTEGER NOT NULL,
     sha256 TEXT NOT NULL,
     created_at TEXT NOT NULL,
     PRIMARY KEY (job_id, filename)
   );
   CREATE TABLE job_attempts (
     job_id TEXT NOT NULL,
     attempt INTEGER NOT NULL,
     backend_id TEXT NOT NULL,
     prompt_id TEXT,
     started_at TEXT NOT NULL,
     ended_at TEXT,
     error TEXT,
     PRIMARY KEY (job_id, attempt)
   );
   CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
  // One webhook delivery per finished job. `webhooks_since` keeps the start-up backfill from notifying
  // about jobs that finished before this table existed.
  `CREATE TABLE webhook_deliveries (
     id TEXT PRIMARY KEY,
     job_id TEXT NOT NULL UNIQUE,
     event TEXT NOT NULL,
     url TEXT NOT NULL,
     payload TEXT NOT NULL,
     status TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     next_attempt_at TEXT NOT NULL,
     last_status INTEGER,
     last_error TEXT,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     delivered_at TEXT
   );
   CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
   INSERT OR REPLACE INTO meta (key, value) VALUES ('webhooks_since', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));`,
  // Dispatch groups (DispatchQueue): the head of each group is one seek, however long the queue.
  `ALTER TABLE jobs ADD COLUMN queue_key TEXT;
   CREATE INDEX jobs_queue_key ON jobs (status, queue_key, priority DESC, seq);`,
  // Access control: the key id that submitted each job (NULL while auth is off), and keys made at runtime,
  // stored as the sha256 of the key only.
  // Both indexes are partial so that they cost nothing while auth is off.
  `ALTER TABLE jobs ADD COLUMN owner TEXT;
   CREATE INDEX jobs_owner ON jobs (owner, seq) WHERE owner IS NOT NULL;
   CREATE INDEX jobs_owner_unfinished ON jobs (owner)
     WHERE owner IS NOT NULL AND status IN ('queued', 'dispatching', 'running', 'retrying');
   CREATE TABLE api_keys (
     id TEXT PRIMARY KEY,
     name TEXT,
     role TEXT NOT NULL,
     key_sha256 TEXT NOT NULL UNIQUE,
     rate_limit_per_min INTEGER,
     max_queued INTEGER,
     created_at TEXT NOT NULL,
     created_by TEXT,
     expires_at TEXT,
     revoked_at TEXT
   );`,
  // Learned speed per host and workflow (EWMA): run time per unit of work, and the model-load part apart.
  `CREATE TABLE host_speed (
     backend_id TEXT NOT NULL,
     workflow_id TEXT NOT NULL,
     unit TEXT NOT NULL DEFAULT 'job',
     run_ms_per_unit REAL,
     run_samples INTEGER NOT NULL DEFAULT 0,
     load_ms REAL,
     load_samples INTEGER NOT NULL DEFAULT 0,
     updated_at TEXT NOT NULL,
     PRIMARY KEY (backend_id, workflow_id)
   );`,
  // Fleet changes made while running (src/core/fleet): hosts added through the API, API changes to
  // config.yaml hosts (valid while that host's entry in the file is unchanged: `config_hash`), and the
  // drain / enable / disable state of every host, so none of it is lost on a restart.
  `CREATE TABLE backend_overrides (
     id TEXT PRIMARY KEY,
     origin TEXT NOT NULL,
     definition TEXT NOT NULL,
     config_hash TEXT,
     enabled INTEGER,
     draining INTEGER NOT NULL DEFAULT 0,
     removing INTEGER NOT NULL DEFAULT 0,
     removed INTEGER NOT NULL DEFAULT 0,
     updated_at TEXT NOT NULL
   );`,
  // Projects: every row runs one node of a project (project_id; a single workflow is its own project), a
  // multi-node project's own row holds the graph (project) and never runs.
  `ALTER TABLE jobs ADD COLUMN project_id TEXT;
   ALTER TABLE jobs ADD COLUMN project_node TEXT;
   ALTER TABLE jobs ADD COLUMN variant INTEGER;
   ALTER TABLE jobs ADD COLUMN project TEXT;
   ALTER TABLE jobs ADD COLUMN links TEXT NOT NULL DEFAULT '[]';
   UPDATE jobs SET project_id = id, project_node = 'node-1';
   CREATE INDEX jobs_project ON jobs (project_id);`,
  // Jobs as counts and lists see them (a project once, not once per node run): with a million queued, the
  // health counts and a page of one status are an index range instead of a read of every queued row.
  "CREATE INDEX jobs_listed ON jobs (status, seq) WHERE project_id IS NULL OR project_id = id;",
];

/** SQLite at `file`, or PostgreSQL when `url` is given; the schema brought up to date either way. */
export function openDatabase(file: string, pg?: { url: string; timeoutMs: number }): SqlDatabase {
  return pg ? openPostgres(pg.url, pg.timeoutMs) : sqliteDatabase(openSqlite(file));
}

function openPostgres(url: string, timeoutMs: number): SqlDatabase {
  const db = new PgSyncDatabase({ url, timeoutMs });
  try {
    db.query("SELECT 1");
    migratePg(db);
    const v = Number(db.query("SELECT MAX(version) AS v FROM schema_version").rows[0]?.v ?? 0);
    if (v > PG_SCHEMA_VERSION) {
      throw Object.assign(
        new Error(`the database has schema version ${v}, newer than this version's ${PG_SCHEMA_VERSION}`),
        { code: "PG_SCHEMA_NEWER" },
      );
    }
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/** The raw SQLite handle (for tools that seed or inspect a database file directly). */
export function openSqlite(file: string): Database.Database {
  if (file !== ":memory:") mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  // NORMAL in WAL mode survives a killed process (every commit is in the WAL); only power loss can lose the
  // last commits, which is the trade-off every WAL-mode job queue makes for throughput.
  db.pragma("synchronous = NORMAL");
  // Short: better-sqlite3 waits on the event loop, so a lock held by another process (a backup, a second
  // server) must fail a write fast; StorageHealth then refuses writes until its probe gets through.
  db.pragma("busy_timeout = 50");
  db.pragma("foreign_keys = ON");
  migrate(db);
  return db;
}

function migrate(db: Database.Database): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
