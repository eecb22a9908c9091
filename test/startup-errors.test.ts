// Start-up failures (port in use, a host that does not resolve, unusable database or folders, a second
// instance on one SQLite file) end with exit code 1 and one line per problem naming the config key: no
// stack trace, no logger noise.
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { api } from "./helpers/api.js";
import { makeTestDir, REPO, spawnOrchestrator, testConfigObject } from "./helpers/orchestrator.js";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) chmodSync(d, 0o755);
});

/** Runs `npm start`'s entry point on a config and resolves with its exit code and stderr. */
function runMain(
  edit: (cfg: Record<string, any>, dir: string) => void,
): Promise<{ code: number | null; stderr: string }> {
  const dir = makeTestDir();
  const cfg = testConfigObject({ backends: [] }, dir) as Record<string, any>;
  edit(cfg, dir);
  const file = path.join(dir, "config.yaml");
  writeFileSync(file, stringify(cfg));
  const child = spawn(
    process.execPath,
    ["--import", "tsx", path.join(REPO, "src", "main.ts"), "--config", file],
    {
      cwd: REPO,
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let stderr = "";
  child.stderr!.on("data", (d) => {
    stderr += d;
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 40_000);
  return new Promise((resolve) =>
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    }),
  );
}

function expectOneLine(r: { code: number | null; stderr: string }, line: RegExp) {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stderr).not.toMatch(/\n\s+at |sonic boom|Error:/);
  const lines = r.stderr.trim().split("\n");
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(line);
}

describe("start-up failures name the key", () => {
  it("server.port already in use", async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await runMain((cfg) => {
        cfg.server.port = port;
      });
      expectOneLine(r, new RegExp(`^orchestrator: server\\.port: ${port} is already in use`));
    } finally {
      blocker.close();
    }
  }, 60_000);

  it("server.host that does not resolve", async () => {
    const r = await runMain((cfg) => {
      cfg.server.host = "no-such-host.invalid";
    });
    expectOneLine(r, /^orchestrator: server\.host: "no-such-host\.invalid" does not resolve$/);
  }, 60_000);

  it("database_url where no PostgreSQL listens, without showing its password", async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const r = await runMain((cfg) => {
      cfg.database_url = `postgres://orch:s3cret@127.0.0.1:${port}/orchestrator`;
    });
    expectOneLine(
      r,
      new RegExp(
        `^orchestrator: database_url: nothing accepts connections at 127\\.0\\.0\\.1:${port}/orchestrator$`,
      ),
    );
    expect(r.stderr).not.toContain("s3cret");
  }, 60_000);

  it("database_path that is a directory, or not a database", async () => {
    const [isDir, notDb] = await Promise.all([
      runMain((cfg) => {
        mkdirSync(cfg.database_path, { recursive: true });
      }),
      runMain((cfg) => {
        mkdirSync(path.dirname(cfg.database_path), { recursive: true });
        writeFileSync(cfg.database_path, "this is not a database, just some text ".repeat(100));
      }),
    ]);
    expectOneLine(isDir, /^orchestrator: database_path: \S+orchestrator\.db is a directory/);
    expectOneLine(notDb, /^orchestrator: database_path: \S+orchestrator\.db is not an SQLite database$/);
  }, 60_000);

  it.skipIf(process.getuid?.() === 0)(
    "database_path that is read-only (skipped as root, who may write anyway)",
    async () => {
      const r = await runMain((cfg, dir) => {
        mkdirSync(path.dirname(cfg.database_path), { recursive: true });
        writeFileSync(cfg.database_path, "");
        chmodSync(cfg.database_path, 0o444);
        dirs.push(dir);
      });
      expectOneLine(r, /^orchestrator: database_path: \S+ is read-only$/);
    },
    60_000,
  );
  if (process.getuid?.() === 0)
    console.log("read-only database_path case skipped: running as root, which bypasses file modes");

  it("data_dir that is a file, and log_dir under a file", async () => {
    const [dataFile, logUnderFile] = await Promise.all([
      runMain((cfg, dir) => {
        cfg.data_dir = path.join(dir, "plain-file");
        cfg.database_path = path.join(dir, "db", "o.db");
        cfg.workflows_dir = path.join(dir, "data", "workflows");
        writeFileSync(cfg.data_dir, "x");
      }),
      runMain((cfg, dir) => {
        writeFileSync(path.join(dir, "blocker"), "x");
        cfg.log_dir = path.join(dir, "blocker", "logs");
      }),
    ]);
    expectOneLine(dataFile, /^orchestrator: data_dir: \S+plain-file is a file, not a folder$/);
    expectOneLine(
      logUnderFile,
      /^orchestrator: log_dir: \S+blocker\/logs cannot be created: a parent is a file$/,
    );
  }, 60_000);
});

describe("one instance per SQLite file", () => {
  it("refuses a second server on the same database_path until the first is gone, even by SIGKILL", async () => {
    const dir = makeTestDir();
    const first = await spawnOrchestrator({ dir, backends: [] });
    try {
      const second = await runMain((cfg) => {
        cfg.database_path = path.join(dir, "data", "orchestrator.db");
      });
      expectOneLine(
        second,
        new RegExp(
          `^orchestrator: database_path: \\S+orchestrator\\.db is in use by another running Orchestrator \\(pid ${first.child.pid} `,
        ),
      );
      expect((await api(first.url, "GET", "/api/health")).status).toBe(200);
    } finally {
      await first.kill("SIGKILL");
    }
    const again = await spawnOrchestrator({ dir, backends: [] });
    expect((await api(again.url, "GET", "/api/health")).status).toBeLessThan(600);
    await again.kill("SIGTERM");
  }, 90_000);
});
