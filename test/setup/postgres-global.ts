// One PostgreSQL cluster for the whole test run (test/helpers/embedded-postgres.ts); every test file makes
// its own database in it (test/helpers/postgres.ts). If the server cannot start, SQLite-only tests still run
// and every PostgreSQL test fails with the reason.
import type { TestProject } from "vitest/node";
import { startEmbeddedPostgres } from "../helpers/embedded-postgres.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** postgres://… of the admin database, or "" when the server could not start (see pgError). */
    pgAdminUrl: string;
    pgError: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  try {
    const cluster = await startEmbeddedPostgres();
    project.provide("pgAdminUrl", cluster.adminUrl);
    project.provide("pgError", "");
    return cluster.stop;
  } catch (err) {
    project.provide("pgAdminUrl", "");
    project.provide("pgError", (err as Error).message);
    return async () => {};
  }
}
