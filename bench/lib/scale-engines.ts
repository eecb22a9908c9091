// The storage engines the scale scenario runs on. Each one fills the store an Orchestrator folder will use
// with queued jobs before that Orchestrator starts, and says how to start Orchestrator on it: SQLite in the
// folder's database file, PostgreSQL in a database of its own per folder on one embedded cluster.
import {
  createDatabase,
  type EmbeddedCluster,
  startEmbeddedPostgres,
} from "../../test/helpers/embedded-postgres.js";
import { databasePath, type OrchestratorOptions } from "./orchestrator-process.js";
import { installDatabase, seededDatabase } from "./seed-jobs.js";
import { seedPostgres } from "./seed-jobs-pg.js";

export interface ScaleEngine {
  /** As the report names it. */
  name: string;
  /** Whether the targets (RSS, restart) apply; PostgreSQL's figures are reported only. */
  targets: boolean;
  /** How the seeded rows got there, for the report. */
  seeding: string;
  /** Fills the store of the Orchestrator folder `dir` with `count` queued jobs (0: an empty store); seconds. */
  seed(dir: string, count: number): Promise<number>;
  /** What Orchestrator needs besides the folder to run on that store. */
  options(dir: string): Pick<OrchestratorOptions, "overrides" | "databaseUrl">;
  /** Frees what the engine started (a database server). */
  close(): Promise<void>;
}

export const sqliteEngine: ScaleEngine = {
  name: "SQLite",
  targets: true,
  seeding: "one row built by prepareJob and JobStore, copied by SQLite in one INSERT … SELECT",
  async seed(dir, count) {
    if (count === 0) return 0; // Orchestrator creates the file
    const seeded = await seededDatabase(count);
    installDatabase(seeded, databasePath(dir));
    return seeded.seconds;
  },
  // The folder's database file is Orchestrator's default for that folder.
  options: () => ({}),
  close: async () => {},
};

/**
 * PostgreSQL on a throwaway embedded cluster (as the replicas scenario starts it). Every start in a folder is
 * the same replica (one ha.replica_id), as a restarted server would be: it may take back its own host lease
 * at once instead of waiting ha.lease_s for it to expire.
 */
export async function postgresEngine(): Promise<ScaleEngine> {
  const cluster: EmbeddedCluster = await startEmbeddedPostgres();
  const urls = new Map<string, string>();
  const urlOf = (dir: string) => {
    const url = urls.get(dir);
    if (!url) throw new Error(`no database seeded for ${dir}`);
    return url;
  };
  return {
    name: "PostgreSQL",
    targets: false,
    seeding:
      "one row built by prepareJob and JobStore, copied by PostgreSQL in one INSERT … SELECT over " +
      "generate_series, then VACUUM ANALYZE; Orchestrator runs with one ha.replica_id across its restarts",
    async seed(dir, count) {
      const url = await createDatabase(cluster.adminUrl);
      urls.set(dir, url);
      return count === 0 ? 0 : seedPostgres(url, count);
    },
    options: (dir) => ({ databaseUrl: urlOf(dir), overrides: { ha: { replica_id: "scale" } } }),
    close: () => cluster.stop(),
  };
}
