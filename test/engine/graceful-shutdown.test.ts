// SIGTERM while requests are in flight: a `?wait` submit is answered with its job's current state (202,
// so the client learns the id), a submit whose body was still arriving is refused 503 SHUTTING_DOWN with
// Retry-After, and the process then exits 0 on its own.
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, eventually, untilHealthy } from "../helpers/api.js";
import { type ChildOrchestrator, makeTestDir, spawnOrchestrator } from "../helpers/orchestrator.js";
import { slowWorkflow, writeWorkflow } from "../helpers/workflows.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

let sim: Simulator;
let child: ChildOrchestrator;

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 100 });
  const dir = makeTestDir();
  writeWorkflow(dir, "slow", slowWorkflow);
  child = await spawnOrchestrator({ dir, backends: [{ id: "a", url: sim.url }] });
  await untilHealthy(child.url);
}, 30_000);
afterAll(async () => {
  await child?.kill("SIGKILL");
  await sim?.close();
});

describe("graceful shutdown", () => {
  it("answers waiting and arriving requests before it exits", async () => {
    const waiting = api(child.url, "POST", "/api/job?wait=60", {
      workflow_id: "slow",
      parameters: { steps: 600 },
    });
    const running = await eventually(
      async () => (await api(child.url, "GET", "/api/jobs?status=running")).body.jobs[0],
      15_000,
      "the waited-for job to run",
    );

    // A submit whose headers are in but whose body is not.
    const body = JSON.stringify({ workflow_id: "slow" });
    const u = new URL(child.url);
    const socket = net.connect(Number(u.port), u.hostname);
    await new Promise((resolve) => socket.once("connect", resolve));
    let answer = "";
    socket.on("data", (d) => {
      answer += d;
    });
    const ended = new Promise((resolve) => socket.once("close", resolve));
    socket.write(
      `POST /api/job HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`,
    );

    child.child.kill("SIGTERM");
    const waited = await waiting;
    expect(waited.status, JSON.stringify(waited.body)).toBe(202);
    expect(waited.body.job_id).toBe(running.job_id);
    expect(["running", "dispatching"]).toContain(waited.body.status);
    expect(waited.body.message).toMatch(/shutting down/);

    socket.write(body.slice(5));
    await ended;
    expect(answer).toMatch(/^HTTP\/1\.1 503 /);
    expect(answer).toMatch(/\r\nretry-after: 5\r\n/i);
    expect(JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4)).error.code).toBe("SHUTTING_DOWN");

    expect(await child.exited).toBe(0);
  }, 60_000);
});
