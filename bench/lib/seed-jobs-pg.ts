// Seeds a PostgreSQL database with queued jobs before Orchestrator starts on it, as seed-jobs.ts does for
// SQLite: the project's own migrations, prepareJob and JobStore write one template row (through the same
// synchronous store Orchestrator uses), then PostgreSQL copies it `count` times in one INSERT … SELECT over
// generate_series, varying its id, prompt, seed and file prefix, drops the template and ANALYZEs, so the
// planner sees a million queued rows as Orchestrator will. The columns are read from the table, so the copies
// follow the schema as it grows.
import { mkdirSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { openDatabase } from "../../src/core/storage/database.js";
import { JobStore } from "../../src/core/storage/job-store.js";
import { benchTempDir } from "./children.js";
import { ID, N, SEED, templateJob } from "./seed-jobs.js";

/** Fills the (empty) database at `url` with `count` queued txt2img jobs; seconds taken. */
export async function seedPostgres(url: string, count: number): Promise<number> {
  const t0 = performance.now();
  const dir = path.join(benchTempDir(), `seed-pg-${count}`);
  mkdirSync(dir, { recursive: true });
  const template = await templateJob(dir);
  const db = openDatabase("", { url, timeoutMs: 30_000 });
  try {
    new JobStore(db).insert(template);
  } finally {
    db.close();
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("SET maintenance_work_mem = '256MB'");
    const { rows } = await client.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns
       WHERE table_schema = current_schema() AND table_name = 'jobs' AND column_name <> 'seq'
       ORDER BY ordinal_position`,
    );
    const vary = (col: string) => `replace(replace(t.${col}, '${N}', n.i::text), '${SEED}', (n.i + 1)::text)`;
    const computed: Record<string, string> = {
      id: "n.id",
      project_id: "n.id",
      parameters: vary("parameters"),
      graph: `replace(${vary("graph")}, '${ID}', n.id)`,
    };
    const columns = rows.map((r) => r.column_name);
    await client.query("BEGIN");
    // Ordered by i, so seq (BIGSERIAL, assigned as rows are inserted) follows submission order.
    await client.query(
      `INSERT INTO jobs (${columns.join(", ")})
       SELECT ${columns.map((c) => computed[c] ?? `t.${c}`).join(", ")}
       FROM (SELECT i, gen_random_uuid()::text AS id FROM generate_series(0, $2::int - 1) i) n,
         (SELECT * FROM jobs WHERE id = $1) t
       ORDER BY n.i`,
      [ID, count],
    );
    await client.query("DELETE FROM jobs WHERE id = $1", [ID]);
    await client.query("COMMIT");
    await client.query("VACUUM ANALYZE jobs");
  } finally {
    await client.end();
  }
  return (performance.now() - t0) / 1000;
}
