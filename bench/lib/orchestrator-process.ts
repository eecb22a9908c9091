// Orchestrator as `npm start` runs it (src/main.ts with a config file), in its own process, with the
// shipped defaults except where a scenario says otherwise: only the paths, the port and the hosts change.
import { cpSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { stringify } from "yaml";
import { benchTempDir, type Child, REPO, spawnTs, waitForLine, waitUntil } from "./children.js";
import { getJson } from "./http.js";

export interface BackendEntry {
  id: string;
  url: string;
  enabled?: boolean;
  max_inflight?: number;
}

export interface OrchestratorOptions {
  name: string;
  /** Reuse a folder (its database) across restarts; a new one under the bench temp dir otherwise. */
  dir?: string;
  backends: BackendEntry[];
  /** Config sections merged over the defaults (scheduler, jobs, http, server, auth, ha). */
  overrides?: Record<string, Record<string, unknown>>;
  /** Write a V8 CPU profile (--cpu-prof) into this folder when the process exits cleanly. */
  profileDir?: string;
  /** PostgreSQL instead of the folder's SQLite file; replicas also share one data_dir. */
  databaseUrl?: string;
  dataDir?: string;
}

export interface OrchestratorProcess {
  readonly url: string;
  readonly dir: string;
  readonly dbPath: string;
  readonly child: Child;
  /** Milliseconds from spawn until /api/health first answered 200. */
  readonly startMs: number;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

let dirs = 0;

/** A new folder (its own database) with the shipped workflows, for one Orchestrator and its restarts. */
export function orchestratorDir(name: string): string {
  const dir = path.join(benchTempDir(), `orch-${name}-${++dirs}`);
  mkdirSync(dir, { recursive: true });
  cpSync(path.join(REPO, "data", "workflows"), path.join(dir, "data", "workflows"), { recursive: true });
  return dir;
}

export function databasePath(dir: string): string {
  return path.join(dir, "data", "orchestrator.db");
}

function writeConfig(dir: string, o: OrchestratorOptions): string {
  const ov = o.overrides ?? {};
  const config = {
    // Port 0: the OS picks, and the "orchestrator listening" log line says which.
    server: { host: "127.0.0.1", port: 0, ...ov.server },
    data_dir: o.dataDir ?? path.join(dir, "data"),
    log_dir: path.join(dir, "logs"),
    database_path: databasePath(dir),
    ...(o.databaseUrl ? { database_url: o.databaseUrl } : {}),
    ...(ov.ha ? { ha: ov.ha } : {}),
    ...(ov.scheduler ? { scheduler: ov.scheduler } : {}),
    ...(ov.jobs ? { jobs: ov.jobs } : {}),
    ...(ov.http ? { http: ov.http } : {}),
    ...(ov.auth ? { auth: ov.auth } : {}),
    backends: o.backends.map((b) => {
      const u = new URL(b.url);
      return {
        id: b.id,
        host: u.hostname,
        port: Number(u.port),
        ...(b.enabled === false ? { enabled: false } : {}),
        ...(b.max_inflight ? { max_inflight: b.max_inflight } : {}),
      };
    }),
  };
  const file = path.join(dir, "config.yaml");
  writeFileSync(file, stringify(config));
  return file;
}

export async function startOrchestrator(o: OrchestratorOptions): Promise<OrchestratorProcess> {
  const dir = o.dir ?? orchestratorDir(o.name);
  const config = writeConfig(dir, o);
  const nodeArgs = o.profileDir ? ["--cpu-prof", "--cpu-prof-dir", o.profileDir] : [];
  const t0 = performance.now();
  const child = spawnTs(`orchestrator-${o.name}`, path.join(REPO, "src", "main.ts"), ["--config", config], {
    nodeArgs,
  });
  try {
    const m = await waitForLine(
      child,
      /"url":"(http:\/\/127\.0\.0\.1:\d+)"[^\n]*"msg":"orchestrator listening"/,
      {
        timeoutMs: 60_000,
        everyMs: 5,
        what: "Orchestrator to listen",
      },
    );
    const url = m[1]!;
    await waitUntil(child, async () => (await getJson(`${url}/api/health`, 2000)).status === 200, {
      timeoutMs: 30_000,
      everyMs: 5,
      what: "Orchestrator to answer /api/health",
    });
    return {
      url,
      dir,
      dbPath: databasePath(dir),
      child,
      startMs: performance.now() - t0,
      stop: () => child.stop(20_000),
      kill: () => child.kill(),
    };
  } catch (err) {
    await child.kill();
    throw err;
  }
}

/** Waits until every listed backend is online as Orchestrator sees it (its first poll has answered). */
export async function waitBackendsOnline(
  orch: OrchestratorProcess,
  ids: string[],
  timeoutMs = 30_000,
  headers: Record<string, string> = {},
): Promise<void> {
  await waitUntil(
    orch.child,
    async () => {
      const r = await getJson<{ backends: { id: string; state: string }[] }>(
        `${orch.url}/api/backends`,
        30_000,
        headers,
      );
      return ids.every((id) => r.body.backends.find((b) => b.id === id)?.state === "online");
    },
    { timeoutMs, everyMs: 50, what: `backends ${ids.join(", ")} to be online` },
  );
}
