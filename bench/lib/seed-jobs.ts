// Seeds a database with queued jobs in a setup step, before Orchestrator starts on it: the project's own
// WorkflowStorage, prepareJob and JobStore build and insert them, the rows POST /api/job writes, only
// without HTTP (100,000 through the API would take a minute or more of the bench's ten). prepareJob runs
// once for a template and each row varies its id, prompt, seed and file prefix: prepareJob itself costs
// about a millisecond a job, which would make seeding alone take minutes.
import { randomUUID } from "node:crypto";
import { copyFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import pino from "pino";
import { queueKey } from "../../src/core/engine/dispatch-queue.js";
import { prepareJob } from "../../src/core/engine/job-preparation.js";
import { requirementsOf } from "../../src/core/engine/requirements.js";
import { manifestToProject } from "../../src/core/models.js";
import { openDatabase } from "../../src/core/storage/database.js";
import { FileStore } from "../../src/core/storage/file-store.js";
import { JobStore } from "../../src/core/storage/job-store.js";
import { WorkflowStorage } from "../../src/core/storage/workflow-storage.js";
import { benchTempDir, REPO } from "./children.js";
import { txt2imgManifest } from "./workload.js";

export interface SeededDatabase {
  /** A closed database file to copy (never opened in place by Orchestrator). */
  file: string;
  ids: string[];
  seconds: number;
}

const BATCH = 5_000;
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

async function seed(count: number): Promise<SeededDatabase> {
  const t0 = performance.now();
  const dir = path.join(benchTempDir(), `seed-${count}`);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "orchestrator.db");
  const log = pino({ level: "silent" });
  const workflows = new WorkflowStorage(path.join(REPO, "data", "workflows"), log);
  workflows.start({ watch: false });
  const files = new FileStore(dir);
  const db = openDatabase(file);
  const store = new JobStore(db);
  const ids: string[] = [];
  try {
    const manifest = txt2imgManifest({ prompt: "seeded job", steps: 20, seed: 1, width: 512, height: 512 });
    const template = await prepareJob(manifestToProject({ ...manifest, priority: 0 }), {
      workflows,
      files,
      media: { maxBytes: 25 * 1024 * 1024, hasOutput: () => false },
      defaults: { timeoutS: 1800, maxAttempts: 3 },
      assertCapable: () => {},
    });
    // Every seeded row varies only values, never what a host needs: one dispatch group for all.
    const queue_key = queueKey({ requirements: requirementsOf(template), options: {} });
    for (let done = 0; done < count; done += BATCH) {
      store.transaction(() => {
        for (let i = done; i < Math.min(count, done + BATCH); i++) {
          const id = randomUUID();
          const graph = structuredClone(template.graph);
          graph["3"]!.inputs.seed = i + 1;
          graph["6"]!.inputs.text = `seeded job ${i}`;
          graph["9"]!.inputs.filename_prefix = `txt2img_${id}`;
          const parameters = { ...template.parameters, prompt: `seeded job ${i}`, seed: i + 1 };
          store.insert({
            ...template,
            id,
            // A single job is its own one-node project.
            project_id: id,
            parameters,
            graph,
            idempotency_key: null,
            queue_key,
            owner: null,
            created_at: new Date().toISOString(),
          });
          ids.push(id);
        }
      });
    }
  } finally {
    workflows.close();
    db.close();
  }
  return { file, ids, seconds: (performance.now() - t0) / 1000 };
}
