// The PostgreSQL schema: the same tables and columns as SQLite's (database.ts), with PostgreSQL's types.
// Times stay ISO-8601 text and flags stay integers, so every store reads both engines alike. Migrations run
// under an advisory lock, so replicas that start together apply each one exactly once.
import type { PgSyncDatabase } from "./pg-sync.js";

const MIGRATION_LOCK = 727_001;

const MIGRATIONS: string[] = [
  `CREATE TABLE jobs (
     seq BIGSERIAL PRIMARY KEY,
     id TEXT NOT NULL UNIQUE,
     status TEXT NOT NULL,
     workflow_id TEXT NOT NULL,
     workflow_version TEXT NOT NULL,
     parameters TEXT NOT NULL,
     graph TEXT NOT NULL,
     requires TEXT NOT NULL,
     min_vram_gb DOUBLE PRECISION,
     timeout_s DOUBLE PRECISION NOT NULL,
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
     not_before TEXT,
     queue_key TEXT,
     owner TEXT,
     project_id TEXT,
     project_node TEXT,
     variant INTEGER,
     project TEXT,
     links TEXT NOT NULL DEFAULT '[]'
   );
   CREATE INDEX jobs_queue ON jobs (status, priority DESC, seq);
   CREATE INDEX jobs_status_created ON jobs (status, created_at);
   CREATE INDEX jobs_idempotency ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;
   CREATE INDEX jobs_queue_key ON jobs (status, queue_key, priority DESC, seq);
   CREATE INDEX jobs_owner ON jobs (owner, seq) WHERE owner IS NOT NULL;
   CREATE INDEX jobs_owner_unfinished ON jobs (owner)
     WHERE owner IS NOT NULL AND status IN ('queued', 'dispatching', 'running', 'retrying');
   CREATE INDEX jobs_project ON jobs (project_id);
   CREATE INDEX jobs_backend_unfinished ON jobs (backend_id) WHERE status IN ('dispatching', 'running');
   CREATE TABLE job_outputs (
     job_id TEXT NOT NULL,
     filename TEXT NOT NULL,
     node_id TEXT NOT NULL,
     comfy_filename TEXT NOT NULL,
     comfy_subfolder TEXT NOT NULL,
     comfy_type TEXT NOT NULL,
     kind TEXT NOT NULL,
     content_type TEXT NOT NULL,
     size BIGINT NOT NULL,
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
   CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE webhook_deliveries (
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
   INSERT INTO meta (key, value)
     VALUES ('webhooks_since', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'));
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
   );
   CREATE TABLE host_speed (
     backend_id TEXT NOT NULL,
     workflow_id TEXT NOT NULL,
     unit TEXT NOT NULL DEFAULT 'job',
     run_ms_per_unit DOUBLE PRECISION,
     run_samples INTEGER NOT NULL DEFAULT 0,
     load_ms DOUBLE PRECISION,
     load_samples INTEGER NOT NULL DEFAULT 0,
     updated_at TEXT NOT NULL,
     PRIMARY KEY (backend_id, workflow_id)
   );
   CREATE TABLE backend_overrides (
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
  // Replicas (README: Running several replicas): who is alive, which replica drives each host, and what the
  // driver sees of it. Times are the database's own (now()), so replicas' clocks never have to agree.
  `CREATE TABLE replicas (
     id TEXT PRIMARY KEY,
     started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
     seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
     url TEXT,
     drives TEXT NOT NULL DEFAULT '[]'
   );
   CREATE TABLE host_leases (
     backend_id TEXT PRIMARY KEY,
     replica_id TEXT NOT NULL,
     acquired_at TIMESTAMPTZ NOT NULL DEFAULT now(),
     expires_at TIMESTAMPTZ NOT NULL
   );
   CREATE TABLE host_state (
     backend_id TEXT PRIMARY KEY,
     replica_id TEXT NOT NULL,
     view TEXT NOT NULL,
     updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
   );`,
  // As SQLite's jobs_listed (database.ts): the health counts and a page of one status as an index range.
  "CREATE INDEX jobs_listed ON jobs (status, seq) WHERE project_id IS NULL OR project_id = id;",
  // The shared event log (event-log.ts): every replica's job events, read back by all in seq order.
  `CREATE TABLE job_events (
     seq BIGSERIAL PRIMARY KEY,
     type TEXT NOT NULL,
     job_id TEXT NOT NULL,
     ts TEXT NOT NULL,
     data TEXT NOT NULL,
     created_at TIMESTAMPTZ NOT NULL DEFAULT now()
   );`,
];

export function migratePg(db: PgSyncDatabase): void {
  db.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
  try {
    db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    const row = db.query("SELECT MAX(version) AS v FROM schema_version").rows[0];
    const current = Number(row?.v ?? 0);
    for (let v = current; v < MIGRATIONS.length; v++) {
      db.transaction(() => {
        db.exec(MIGRATIONS[v]!);
        db.query("INSERT INTO schema_version (version) VALUES ($1)", [v + 1]);
      })();
    }
  } finally {
    db.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]);
  }
}

/** Later migrations append here; replicas of an older version refuse a newer schema (see openDatabase). */
export const PG_SCHEMA_VERSION = MIGRATIONS.length;
