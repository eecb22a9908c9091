// A fresh PostgreSQL database for one test file, in the cluster test/setup/postgres-global.ts started.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";

/** Makes a new empty database and returns its URL; throws with the reason when PostgreSQL is unavailable. */
export async function createTestDatabase(): Promise<string> {
  const admin = inject("pgAdminUrl");
  if (!admin) throw new Error(inject("pgError") || "PostgreSQL test server not started");
  const name = `t_${randomBytes(6).toString("hex")}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return url.toString();
}
