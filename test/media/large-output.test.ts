// A 50 MB output goes host → Orchestrator → client as streams: the Orchestrator's memory barely grows.
// The simulator runs in its own process (it builds the 50 MB file in memory), so this process's RSS is the
// Orchestrator's plus the test client's.
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import v8 from "node:v8";
import vm from "node:vm";
import { afterAll, beforeAll, expect, it } from "vitest";
import { api } from "../helpers/api.js";
import { makeTestDir, REPO, type RunningOrchestrator } from "../helpers/orchestrator.js";
import { startMediaOrchestrator } from "./media-helpers.js";

const SIZE = 50 * 1024 * 1024;
const MB = 1024 * 1024;
// V8 frees dead chunk buffers lazily (tens of MB may wait for a GC). A young-generation collection every
// 50 ms leaves about what is really held, so a bound well under the file's size tells streaming from
// buffering without GC timing deciding the result.
v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as (o?: { type: "minor" | "major" }) => void;

/** A job whose output is a small temp file (the simulator pads only `output` files): warms up every path. */
const WARM_UP = {
  graph: {
    "1": { class_type: "EmptyImage", inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
    "2": { class_type: "PreviewImage", inputs: { images: ["1", 0] } },
  },
};

let child: ChildProcess;
let orch: RunningOrchestrator;
let dir: string;

/** Starts `test/sim/cli.ts` on port 0 and resolves with the URL it prints. */
function spawnSimulator(args: string[]): Promise<string> {
  child = spawn(
    process.execPath,
    ["--import", "tsx", path.join(REPO, "test", "sim", "cli.ts"), "--port", "0", ...args],
    {
      cwd: REPO,
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once("exit", (code) => reject(new Error(`simulator exited (${code}): ${out}`)));
  });
}

beforeAll(async () => {
  const url = await spawnSimulator(["--step-ms", "2", "--output-size-bytes", String(SIZE)]);
  dir = makeTestDir();
  writeFileSync(path.join(dir, "data", "workflows", "warm_up.json"), JSON.stringify(WARM_UP));
  orch = await startMediaOrchestrator({ backends: [{ id: "sim-1", url }], dir });
});
afterAll(async () => {
  await orch?.stop();
  if (child && child.exitCode === null) {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it("streams a 50 MB output through without holding it in memory", async () => {
  const warm = await api(orch.url, "POST", "/api/job?wait=20", { workflow_id: "warm_up" });
  expect(warm.body.status, JSON.stringify(warm.body)).toBe("completed");
  await (await fetch(warm.body.outputs[0].url)).arrayBuffer();
  gc();
  const base = process.memoryUsage.rss();
  let peak = base;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
    gc({ type: "minor" });
  }, 50);
  try {
    const r = await api(orch.url, "POST", "/api/job?wait=60", {
      workflow_id: "invert_image",
      parameters: { width: 8, height: 8 },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.status, JSON.stringify(r.body.error)).toBe("completed");
    const out = r.body.outputs[0];
    expect(out.size).toBe(SIZE);

    const res = await fetch(out.url);
    expect(res.status).toBe(200);
    const hash = createHash("sha256");
    let received = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      received += chunk.length;
      peak = Math.max(peak, process.memoryUsage.rss());
    }
    expect(received).toBe(SIZE);
    expect(hash.digest("hex")).toBe(out.sha256);
  } finally {
    clearInterval(sampler);
  }
  peak = Math.max(peak, process.memoryUsage.rss());
  expect(
    (peak - base) / MB,
    `RSS grew from ${(base / MB).toFixed(1)} MB to ${(peak / MB).toFixed(1)} MB`,
  ).toBeLessThan(40);
}, 90_000);
