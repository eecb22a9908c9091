// A fresh PostgreSQL database for one test file, in the cluster test/setup/postgres-global.ts started.
import { inject } from "vitest";
import { createDatabase } from "./embedded-postgres.js";

/** Makes a new empty database and returns its URL; throws with the reason when PostgreSQL is unavailable. */
export async function createTestDatabase(): Promise<string> {
  const admin = inject("pgAdminUrl");
  if (!admin) throw new Error(inject("pgError") || "PostgreSQL test server not started");
  return createDatabase(admin);
}
