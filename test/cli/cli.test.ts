// The `orchestrator` CLI as users run it: the real binary (bin/orchestrator.js) in a child process against a
// real server and the simulator, checking its output, the files it writes and its exit codes.
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/main.js";
import { progressView } from "../../src/cli/progress.js";
import { KEYS, startKeyed } from "../auth/auth-helpers.js";
import { untilHealthy } from "../helpers/api.js";
import { REPO, type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { pngInfo, solidPng } from "../media/media-helpers.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

const BIN = path.join(REPO, "bin", "orchestrator.js");
let sim: Simulator;
let orch: RunningOrchestrator;
let tmp: string;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: REPO, env: { ...process.env, ORCHESTRATOR_URL: orch.url, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? null) : 0;
        resolve({ code: typeof code === "number" ? code : null, stdout, stderr });
      },
    );
  });
}

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 2 });
  orch = await startOrchestrator({ backends: [{ id: "sim-1", url: sim.url }] });
  await untilHealthy(orch.url);
  tmp = mkdtempSync(path.join(os.tmpdir(), "orch-cli-"));
});
afterAll(async () => {
  await orch?.stop();
  await sim?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("orchestrator submit", () => {
  it("--wait -o writes the PNG, prints its path, and reports progress as plain lines when piped", async () => {
    const out = path.join(tmp, "out");
    const r = await cli(["submit", "invert_image", "width=40", "height=24", "color=0", "--wait", "-o", out]);
    expect(r.code, r.stderr).toBe(0);
    const files = readdirSync(out);
    expect(files).toHaveLength(1);
    const png = readFileSync(path.join(out, files[0]!));
    expect(pngInfo(png)).toMatchObject({ width: 40, height: 24, rgb: 0xffffff });
    expect(r.stdout.trim()).toBe(path.join(out, files[0]!));
    expect(r.stderr).not.toContain("\r");
    expect(r.stderr).toMatch(/^running on sim-1$/m);
    expect(r.stderr).toMatch(/^completed$/m);
  });

  it("sends --image files as multipart", async () => {
    const img = path.join(tmp, "in.png");
    await import("node:fs/promises").then((fs) => fs.writeFile(img, solidPng(6, 6, 0x123456)));
    const r = await cli([
      "submit",
      "scale_image",
      `--image`,
      `image=${img}`,
      "width=12",
      "height=12",
      "--wait",
      "--json",
    ]);
    expect(r.code, r.stderr).toBe(0);
    const job = JSON.parse(r.stdout);
    expect(job).toMatchObject({ status: "completed", parameters: { width: 12, height: 12 } });
  });

  it("prints the server's field error for a bad parameter and exits 2", async () => {
    const r = await cli(["submit", "invert_image", "width=wide"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("PARAMETER_INVALID");
    expect(r.stderr).toMatch(/^ {2}parameters\.width: /m);
    const unknown = await cli(["submit", "no_such_workflow"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("WORKFLOW_NOT_FOUND");
  });

  it("exits 1 when the job fails, with its error", async () => {
    sim.setFault({ kind: "execution_error", class_type: "ImageInvert", message: "boom", count: 1 });
    const r = await cli(["submit", "invert_image", "width=8", "height=8", "--wait"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/failed: EXECUTION_ERROR/);
  });

  it("without --wait prints the job id; --json prints the answer", async () => {
    const plain = await cli(["submit", "invert_image", "width=8", "height=8"]);
    expect(plain.code).toBe(0);
    expect(plain.stdout.trim()).toMatch(/^[0-9a-f-]{36}$/);
    const json = await cli(["--json", "submit", "invert_image", "width=8", "height=8", "--priority", "3"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ status: "queued", created: true });
  });
});

describe("the other commands", () => {
  it("status, jobs and workflows print parseable JSON with --json", async () => {
    const id = (await cli(["submit", "invert_image", "width=8", "height=8", "--wait", "--json"])).stdout;
    const job = JSON.parse(id);
    const status = await cli(["status", job.job_id, "--json"]);
    expect(JSON.parse(status.stdout)).toMatchObject({ job_id: job.job_id, status: "completed" });
    const human = await cli(["status", job.job_id]);
    expect(human.stdout).toMatch(/^status +completed$/m);
    const list = await cli(["jobs", "--status", "completed", "--json"]);
    expect(JSON.parse(list.stdout).jobs.every((j: { status: string }) => j.status === "completed")).toBe(
      true,
    );
    const wf = await cli(["workflows", "--json"]);
    expect(JSON.parse(wf.stdout).workflows.map((w: { id: string }) => w.id)).toContain("invert_image");
    const table = await cli(["jobs"]);
    expect(table.stdout.split("\n")[0]).toMatch(/^JOB +STATUS +PROGRESS/);
  });

  it("drains, disables and enables a host; cancels a job", async () => {
    expect((await cli(["disable", "sim-1"])).stdout.trim()).toBe("sim-1 disabled");
    const id = (await cli(["submit", "invert_image"])).stdout.trim();
    const cancelled = await cli(["cancel", id]);
    expect(cancelled.stdout.trim()).toBe(`${id} cancelled`);
    expect((await cli(["enable", "sim-1"])).code).toBe(0);
    expect((await cli(["drain", "sim-1", "--json"])).stdout).toContain('"state": "drained"');
    const backends = await cli(["backends", "--json"]);
    expect(JSON.parse(backends.stdout).backends[0]).toMatchObject({ id: "sim-1", state: "drained" });
    expect((await cli(["enable", "sim-1"])).stdout.trim()).toMatch(/^sim-1 /);
    const missing = await cli(["drain", "nope"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("BACKEND_NOT_FOUND");
  });

  it("watch prints one line per state change when piped and exits 0 on Ctrl-C", async () => {
    const child = spawn(process.execPath, [BIN, "watch"], {
      cwd: REPO,
      env: { ...process.env, ORCHESTRATOR_URL: orch.url },
    });
    let stdout = "";
    const seen = new Promise<void>((resolve) =>
      child.stdout.on("data", (d) => {
        stdout += d;
        if (/ completed$/m.test(stdout)) resolve();
      }),
    );
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    await new Promise<void>((resolve) =>
      child.stderr.on("data", (d) => String(d).includes("watching") && resolve()),
    );
    await cli(["submit", "invert_image", "width=8", "height=8", "--wait"]);
    await seen;
    child.kill("SIGINT");
    expect(await exited).toBe(0);
    expect(stdout).toMatch(/ running sim-1$/m);
  });
});

describe("usage", () => {
  it("has help for every command and exits 2 with a one-line message on misuse or no server", async () => {
    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    const commands = [...help.stdout.matchAll(/^ {2}([a-z]+) {2,}/gm)].map((m) => m[1]!);
    expect(commands).toEqual(
      expect.arrayContaining([
        "submit",
        "status",
        "jobs",
        "cancel",
        "workflows",
        "backends",
        "drain",
        "watch",
      ]),
    );
    // In-process (the same run() the binary calls): eleven more process start-ups would add nothing.
    for (const c of commands.filter((c) => c !== "help")) {
      let text = "";
      const io = { write: (s: string) => (text += s) };
      const code = await run([c, "--help"], {
        out: io,
        err: io,
        env: {},
        signal: new AbortController().signal,
      });
      expect(code, c).toBe(0);
      expect(text, c).toContain(`Usage: orchestrator ${c}`);
    }
    expect((await cli(["help", "submit"])).stdout).toContain("--image name=path");
    const bad = await cli(["jobs", "--colour"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.split("\n")[0]).toBe("error: unknown option --colour");
    const down = await cli(["jobs"], { ORCHESTRATOR_URL: "http://127.0.0.1:9" });
    expect(down.code).toBe(2);
    expect(down.stderr.trim()).toMatch(/^error: cannot reach http:\/\/127\.0\.0\.1:9/);
  });
});

describe("progress display", () => {
  const events = (id: string) =>
    [
      { type: "job.running", job_id: id, seq: 2, ts: "t", backend_id: "gpu-1", attempt: 1 },
      { type: "job.progress", job_id: id, seq: 3, ts: "t", value: 5, max: 10, node_id: "3", percent: 50 },
      { type: "job.completed", job_id: id, seq: 4, ts: "t", outputs: ["a.png"] },
    ] as const;

  it("redraws one bar line on a terminal, and prints plain lines otherwise", () => {
    let tty = "";
    const bar = progressView({ isTTY: true, columns: 100, write: (s: string) => (tty += s) });
    for (const e of events("j")) bar.event(e as never);
    bar.finish();
    expect(tty).toContain("\r\x1b[2K[");
    expect(tty).toMatch(/\[#{20}\.{20}\] {2}50%/);
    expect(tty.trimEnd().split("\n")).toHaveLength(1);

    let piped = "";
    const lines = progressView({ write: (s: string) => (piped += s) });
    for (const e of events("j")) lines.event(e as never);
    expect(piped).toBe("running on gpu-1\nprogress 50%\ncompleted\n");
  });
});

describe("with access control", () => {
  it("sends ORCHESTRATOR_API_KEY; a missing or too weak key is the server's error and exit 2", async () => {
    const keyed = await startKeyed({ backends: [{ id: "sim-1", url: sim.url }] });
    try {
      const env = { ORCHESTRATOR_URL: keyed.url };
      const none = await cli(["jobs"], env);
      expect(none.code).toBe(2);
      expect(none.stderr).toContain("UNAUTHENTICATED");
      const reader = await cli(["jobs", "--json"], { ...env, ORCHESTRATOR_API_KEY: KEYS.reader });
      expect(reader.code, reader.stderr).toBe(0);
      expect(JSON.parse(reader.stdout).jobs).toEqual([]);
      const forbidden = await cli(["submit", "invert_image"], { ...env, ORCHESTRATOR_API_KEY: KEYS.reader });
      expect(forbidden.code).toBe(2);
      expect(forbidden.stderr).toContain("FORBIDDEN");
      const out = path.join(tmp, "keyed");
      const ok = await cli(
        ["submit", "invert_image", "width=8", "height=8", "-o", out, "--api-key", KEYS.alice],
        env,
      );
      expect(ok.code, ok.stderr).toBe(0);
      expect(readdirSync(out)).toHaveLength(1);
    } finally {
      await keyed.stop();
    }
  });
});
