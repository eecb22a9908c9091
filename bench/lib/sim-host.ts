// Simulated ComfyUI hosts, each in its own process (test/sim/cli.ts), so that a host's event loop never
// shares a thread with Orchestrator's or the bench's.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { benchTempDir, type Child, REPO, spawnTs, waitForLine } from "./children.js";
import { getJson } from "./http.js";

export interface SimHostOptions {
  name: string;
  stepMs: number;
  nodeMs?: number;
  outputSizeBytes?: number;
  /** Relative speed (step and node times ÷ speed), cost of a checkpoint load, checkpoints kept warm. */
  speed?: number;
  loadMs?: number;
  modelSlots?: number;
  checkpoints?: string[];
}

export interface SimHost {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  readonly child: Child;
  stop(): Promise<void>;
}

let started = 0;

export async function startSimHost(o: SimHostOptions): Promise<SimHost> {
  const dataDir = path.join(benchTempDir(), `sim-${o.name}-${++started}`);
  mkdirSync(dataDir, { recursive: true });
  const args = [
    "--port",
    "0",
    "--step-ms",
    String(o.stepMs),
    "--node-ms",
    String(o.nodeMs ?? 0),
    "--data-dir",
    dataDir,
  ];
  if (o.outputSizeBytes) args.push("--output-size-bytes", String(o.outputSizeBytes));
  if (o.speed) args.push("--speed", String(o.speed));
  if (o.loadMs) args.push("--load-ms", String(o.loadMs));
  if (o.modelSlots) args.push("--model-slots", String(o.modelSlots));
  if (o.checkpoints) args.push("--checkpoints", o.checkpoints.join(","));
  const child = spawnTs(`sim-${o.name}`, path.join(REPO, "test", "sim", "cli.ts"), args);
  try {
    const m = await waitForLine(child, /simulator listening on (http:\/\/127\.0\.0\.1:(\d+))/, {
      timeoutMs: 30_000,
      what: "the simulator to listen",
    });
    const url = m[1]!;
    if ((await getJson(`${url}/system_stats`, 5000)).status !== 200)
      throw new Error(`${url}/system_stats did not answer 200`);
    return { name: o.name, url, port: Number(m[2]), child, stop: () => child.stop(5000) };
  } catch (err) {
    await child.kill();
    throw err;
  }
}

/** Starts hosts one after another (parallel tsx start-ups on two cores only slow each other down). */
export async function startSimHosts(list: SimHostOptions[]): Promise<SimHost[]> {
  const hosts: SimHost[] = [];
  for (const o of list) hosts.push(await startSimHost(o));
  return hosts;
}
