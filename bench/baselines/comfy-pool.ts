// Runs the ComfyPool baseline (comfy-pool-runner.ts) in a child process and reads back what it did.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { benchTempDir, REPO, spawnTs } from "../lib/children.js";
import { type Txt2ImgJob, txt2imgGraph } from "../lib/workload.js";
import type { DispatchRun } from "./round-robin.js";

export async function runComfyPool(
  hostUrls: string[],
  jobs: Txt2ImgJob[],
  timeoutMs: number,
): Promise<DispatchRun> {
  const stamp = Date.now();
  const input = path.join(benchTempDir(), `comfy-pool-input-${stamp}.json`);
  const output = path.join(benchTempDir(), `comfy-pool-output-${stamp}.json`);
  writeFileSync(input, JSON.stringify({ hosts: hostUrls, graphs: jobs.map(txt2imgGraph) }));
  const child = spawnTs("comfy-pool", path.join(REPO, "bench", "baselines", "comfy-pool-runner.ts"), [
    "--input",
    input,
    "--output",
    output,
  ]);
  const timer = setTimeout(() => void child.kill(), timeoutMs);
  const code = await child.exited;
  clearTimeout(timer);
  if (code !== 0) {
    const why =
      code === null ? `killed after ${Math.round(timeoutMs / 1000)} s without finishing` : `exited ${code}`;
    throw new Error(`ComfyPool runner ${why}: ${child.logTail(600)}`);
  }
  const r = JSON.parse(readFileSync(output, "utf8")) as {
    makespanMs: number;
    promptIds: string[];
    failures: number;
    note: string;
  };
  return { makespanMs: r.makespanMs, promptIds: new Set(r.promptIds), failures: r.failures, note: r.note };
}
