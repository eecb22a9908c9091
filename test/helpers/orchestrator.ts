// Starts a real Orchestrator (in-process, or as a child process for kill/restart tests) on 127.0.0.1:0
// with its own temp folder, config and copy of the shipped workflows.
import { type ChildProcess, spawn } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { stringify } from "yaml";
import { Orchestrator } from "../../src/app.js";
import { parseConfig } from "../../src/config.js";
import { createLogger } from "../../src/logger.js";
import { createTestDatabase } from "./postgres.js";

export const REPO = path.resolve(import.meta.dirname, "../..");

export interface BackendSpec {
  id: string;
  url: string;
  capabilities?: string[];
  max_inflight?: number;
  weight?: number;
  enabled?: boolean;
  headers?: Record<string, string>;
  basic_auth?: { username: string; password: string };
  warmup?: { workflow_id: string; parameters?: Record<string, unknown>; timeout_s?: number };
}

export interface TestConfig {
  backends: BackendSpec[];
  /** Extra config sections merged over the test defaults (scheduler, jobs, http, server...). */
  overrides?: Record<string, Record<string, unknown>>;
  /** Reuse a folder (database, data) across restarts. */
  dir?: string;
  /** Overrides TEST_LOG_LEVEL (e.g. "debug" to check what request logs contain). */
  /** Write the config to `dir/config.yaml` and start from that file, so reloads can re-read it. */
  configFile?: boolean;
  logLevel?: string;
  /** Run on this PostgreSQL database (test/helpers/postgres.ts) instead of a SQLite file in `dir`. */
  databaseUrl?: string;
  /** data_dir (uploads, outputs, workflows) when not `dir/data`: replicas share one (test/helpers/replicas.ts). */
  dataDir?: string;
}

/** Config tuned for tests: fast polls and retries, port 0, everything under `dir`. */
export function testConfigObject(c: TestConfig, dir: string): Record<string, unknown> {
  const o = c.overrides ?? {};
  return {
    ...o,
    server: { host: "127.0.0.1", port: 0, ...o.server },
    data_dir: c.dataDir ?? path.join(dir, "data"),
    log_dir: path.join(dir, "logs"),
    log_level: c.logLevel ?? process.env.TEST_LOG_LEVEL ?? "warn",
    database_path: path.join(dir, "data", "orchestrator.db"),
    ...(c.databaseUrl ? { database_url: c.databaseUrl } : {}),
    scheduler: { poll_interval_s: 0.2, offline_after: 2, ...o.scheduler },
    jobs: { retry_backoff_s: 0.05, silence_check_s: 1, recovery_grace_s: 2, ...o.jobs },
    http: { request_timeout_s: 2, transfer_timeout_s: 30, ...o.http },
    backends: c.backends.map((b) => {
      const u = new URL(b.url);
      return {
        id: b.id,
        host: u.hostname,
        port: Number(u.port),
        capabilities: b.capabilities ?? [],
        ...(b.max_inflight ? { max_inflight: b.max_inflight } : {}),
        ...(b.weight ? { weight: b.weight } : {}),
        ...(b.enabled === false ? { enabled: false } : {}),
        ...(b.headers ? { headers: b.headers } : {}),
        ...(b.basic_auth ? { basic_auth: b.basic_auth } : {}),
        ...(b.warmup ? { warmup: b.warmup } : {}),
      };
    }),
  };
}

export function makeTestDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "orch-test-"));
  cpSync(path.join(REPO, "data", "workflows"), path.join(dir, "data", "workflows"), { recursive: true });
  return dir;
}

export interface RunningOrchestrator {
  url: string;
  dir: string;
  app: Orchestrator;
  stop(): Promise<void>;
}

/**
 * The PostgreSQL database a test server in `dir` uses: the one given, else, when the suite runs on PostgreSQL
 * (the vitest project `postgres` sets ORCH_TEST_ENGINE), one made for `dir` and kept for its restarts.
 */
const databases = new Map<string, string>();
async function databaseFor(c: TestConfig, dir: string): Promise<TestConfig> {
  if (c.databaseUrl || process.env.ORCH_TEST_ENGINE !== "postgres") return c;
  let url = databases.get(dir);
  if (!url) {
    url = await createTestDatabase();
    databases.set(dir, url);
  }
  return { ...c, databaseUrl: url };
}

export async function startOrchestrator(given: TestConfig): Promise<RunningOrchestrator> {
  const dir = given.dir ?? makeTestDir();
  const c = await databaseFor(given, dir);
  const raw = testConfigObject(c, dir);
  const file = c.configFile ? path.join(dir, "config.yaml") : null;
  if (file) writeFileSync(file, stringify(raw));
  const config = parseConfig(raw, file ?? "test-config", dir);
  const log = createLogger({
    level: config.log_level,
    logDir: config.log_dir,
    rotation: config.log_rotation,
    stdout: process.env.TEST_LOG_LEVEL !== undefined,
  });
  const app = new Orchestrator(config, log, file);
  const { url } = await app.start();
  return {
    url,
    dir,
    app,
    stop: async () => {
      await app.stop();
      if (!c.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ChildOrchestrator {
  url: string;
  child: ChildProcess;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs `src/main.ts` as its own process, as `npm start` would, and resolves once it listens. */
export async function spawnOrchestrator(given: TestConfig & { dir: string }): Promise<ChildOrchestrator> {
  const c = { ...(await databaseFor(given, given.dir)), dir: given.dir };
  const file = path.join(c.dir, "config.yaml");
  const cfg = testConfigObject(c, c.dir);
  (cfg.server as Record<string, unknown>).port = c.overrides?.server?.port ?? 0;
  cfg.log_level = "info";
  writeFileSync(file, stringify(cfg));
  const child = spawn(
    process.execPath,
    ["--import", "tsx", path.join(REPO, "src", "main.ts"), "--config", file],
    {
      cwd: REPO,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let stderr = "";
  child.stderr!.on("data", (d) => {
    stderr += d;
  });
  const url = await new Promise<string>((resolve, reject) => {
    let buf = "";
    const onData = (d: Buffer) => {
      buf += d.toString();
      for (const line of buf.split("\n")) {
        if (!line.includes('"orchestrator listening"')) continue;
        child.stdout!.off("data", onData);
        child.stdout!.resume();
        return resolve(JSON.parse(line).url);
      }
    };
    child.stdout!.on("data", onData);
    void exited.then((code) =>
      reject(new Error(`orchestrator exited (${code}) before listening: ${stderr}`)),
    );
  });
  return {
    url,
    child,
    exited,
    kill: async (signal = "SIGKILL") => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
