// The storage engines the scale scenario runs on. Each one fills the store an Orchestrator folder will use
// with queued jobs before that Orchestrator starts, and says how to start Orchestrator on it. Only SQLite
// is here today; a PostgreSQL engine would seed a database of its own and start with its `databaseUrl`.
import { databasePath, type OrchestratorOptions } from "./orchestrator-process.js";
import { installDatabase, seededDatabase } from "./seed-jobs.js";

export interface ScaleEngine {
  /** As the report names it. */
  name: string;
  /** Fills the store of the Orchestrator folder `dir` with `count` queued jobs (0: an empty store); seconds. */
  seed(dir: string, count: number): Promise<number>;
  /** What Orchestrator needs besides the folder to run on that store. */
  options(dir: string): Pick<OrchestratorOptions, "overrides" | "databaseUrl">;
}

export const sqliteEngine: ScaleEngine = {
  name: "SQLite",
  async seed(dir, count) {
    if (count === 0) return 0; // Orchestrator creates the file
    const seeded = await seededDatabase(count);
    installDatabase(seeded, databasePath(dir));
    return seeded.seconds;
  },
  // The folder's database file is Orchestrator's default for that folder.
  options: () => ({}),
};
