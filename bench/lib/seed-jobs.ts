// Seeds a database with queued jobs in a setup step, before Orchestrator starts on it: the project's own
// WorkflowStorage, prepareJob and JobStore build and insert one job, the row POST /api/job writes, only
// without HTTP (a million through the API would take longer than the whole bench). SQLite then copies that
// row `count` times in one INSERT … SELECT inside one transaction, varying its id, prompt, seed and file
// prefix, and drops the template. The per-row work stays in SQLite: a million rows take about 20 s, where a
// JavaScript loop over JobStore.insert takes about a minute. The columns are read from the table, so the
// copies follow the schema as it grows.
import { copyFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import type Database from "better-sqlite3";
import pino from "pino";
import { queueKey } from "../../src/core/engine/dispatch-queue.js";
import { prepareJob } from "../../src/core/engine/job-preparation.js";
import { requirementsOf } from "../../src/core/engine/requirements.js";
import { manifestToProject } from "../../src/core/models.js";
import { openSqlite } from "../../src/core/storage/database.js";
import { FileStore } from "../../src/core/storage/file-store.js";
import { JobStore, type NewJob } from "../../src/core/storage/job-store.js";
import { sqliteDatabase } from "../../src/core/storage/sql.js";
import { WorkflowStorage } from "../../src/core/storage/workflow-storage.js";
import { benchTempDir, REPO } from "./children.js";
import { txt2imgManifest } from "./workload.js";

export interface SeededDatabase {
  /** A closed database file to copy (never opened in place by Orchestrator). */
  file: string;
  /** The seeded jobs' ids in submission order, read from the file on first use. */
  readonly ids: string[];
  count: number;
  seconds: number;
}

const cache = new Map<number, Promise<SeededDatabase>>();

/** Once per count and run: a database holding `count` queued txt2img jobs. */
export function seededDatabase(count: number): Promise<SeededDatabase> {
  let p = cache.get(count);
  if (!p) {
    p = seed(count);
    cache.set(count, p);
  }
  return p;
}

/** Copies the seeded database to where an Orchestrator folder expects its database. */
export function installDatabase(seeded: SeededDatabase, dbPath: string): void {
  mkdirSync(path.dirname(dbPath), { recursive: true });
  copyFileSync(seeded.file, dbPath);
}

// Placeholders in the template row, replaced per copy. The seed is a number no other field contains.
export const N = "#seed-n#";
export const ID = "#seed-id#";
export const SEED = 987_654_321_012;

/** The row POST /api/job would store for one txt2img job (id ID), built by the project's own code. */
export async function templateJob(dir: string): Promise<NewJob> {
  const log = pino({ level: "silent" });
  const workflows = new WorkflowStorage(path.join(REPO, "data", "workflows"), log);
  workflows.start({ watch: false });
  try {
    const manifest = txt2imgManifest({
      prompt: `seeded job ${N}`,
      steps: 20,
      seed: SEED,
      width: 512,
      height: 512,
    });
    const template = await prepareJob(manifestToProject({ ...manifest, priority: 0 }), {
      workflows,
      files: new FileStore(dir),
      media: { maxBytes: 25 * 1024 * 1024, hasOutput: () => false },
      defaults: { timeoutS: 1800, maxAttempts: 3 },
      assertCapable: () => {},
    });
    template.graph["9"]!.inputs.filename_prefix = `txt2img_${ID}`;
    // Every seeded row varies only values, never what a host needs: one dispatch group for all.
    const queue_key = queueKey({ requirements: requirementsOf(template), options: {} });
    return {
      ...template,
      id: ID,
      project_id: ID,
      idempotency_key: null,
      queue_key,
      owner: null,
      created_at: new Date().toISOString(),
    };
  } finally {
    workflows.close();
  }
}

async function seed(count: number): Promise<SeededDatabase> {
  const t0 = performance.now();
  const dir = path.join(benchTempDir(), `seed-${count}`);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "orchestrator.db");
  const template = await templateJob(dir);
  const db = openSqlite(file);
  try {
    // Bulk load: the seed file is thrown away if this process dies, so the journal and sync are not needed,
    // and a large page cache keeps the random-order id index in memory while it grows.
    db.pragma("journal_mode = OFF");
    db.pragma("synchronous = OFF");
    db.pragma("cache_size = -200000");
    const store = new JobStore(sqliteDatabase(db));
    store.transaction(() => {
      store.insert(template);
      if (count > 0) copyTemplate(db, count);
      db.prepare("DELETE FROM jobs WHERE id = ?").run(ID);
    });
    db.pragma("journal_mode = WAL");
  } finally {
    db.close();
  }
  let ids: string[] | null = null;
  return {
    file,
    count,
    seconds: (performance.now() - t0) / 1000,
    get ids() {
      ids ??= readIds(file);
      return ids;
    },
  };
}

/** `count` copies of the template row (id ID), each with an id of its own, numbered 0…count - 1. */
function copyTemplate(db: Database.Database, count: number): void {
  db.exec("CREATE TEMP TABLE seed_n (i INTEGER PRIMARY KEY, h TEXT NOT NULL)");
  // Materialised first: randomblob() in the INSERT's select list could be evaluated once per use.
  db.prepare(`INSERT INTO seed_n (i, h) WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?)
    SELECT i, lower(hex(randomblob(16))) FROM n`).run(count);
  const uuid = `substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-8' ||
    substr(h, 18, 3) || '-' || substr(h, 21, 12)`;
  const vary = (col: string) => `replace(replace(t.${col}, '${N}', n.i), '${SEED}', n.i + 1)`;
  const computed: Record<string, string> = {
    id: "n.id",
    project_id: "n.id",
    parameters: vary("parameters"),
    graph: `replace(${vary("graph")}, '${ID}', n.id)`,
  };
  const columns = (db.prepare("SELECT name FROM pragma_table_info('jobs')").all() as { name: string }[])
    .map((c) => c.name)
    .filter((c) => c !== "seq");
  db.prepare(`INSERT INTO jobs (${columns.join(", ")})
    SELECT ${columns.map((c) => computed[c] ?? `t.${c}`).join(", ")}
    FROM (SELECT i, ${uuid} AS id FROM seed_n) n, (SELECT * FROM jobs WHERE id = ?) t ORDER BY n.i`).run(ID);
  db.exec("DROP TABLE seed_n");
}

function readIds(file: string): string[] {
  const db = openSqlite(file);
  try {
    return db.prepare("SELECT id FROM jobs ORDER BY seq").pluck().all() as string[];
  } finally {
    db.close();
  }
}
