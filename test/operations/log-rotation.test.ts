// log_dir files rotate past log_rotation.size_mb, and request lines carry the request id.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, eventually } from "../helpers/api.js";
import { type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";

let orch: RunningOrchestrator;

beforeAll(async () => {
  // 4 KB files: a few dozen request lines (logged at debug) fill one.
  orch = await startOrchestrator({
    backends: [],
    logLevel: "debug",
    overrides: { log_rotation: { size_mb: 4 / 1024, keep: 3, frequency: "none" } },
  });
});
afterAll(async () => {
  await orch?.stop();
});

const logFiles = () =>
  readdirSync(path.join(orch.dir, "logs"))
    .filter((f) => /^orchestrator\.\d+\.log$/.test(f))
    .sort();

describe("log rotation", () => {
  it("starts a second file once the first passes its size, keeping at most `keep` old ones", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) {
      const r = await api(orch.url, "GET", "/api/health");
      ids.push(r.headers.get("x-request-id")!);
    }
    await eventually(() => logFiles().length >= 2, 10_000, "a second log file");
    for (let i = 0; i < 200; i++) await api(orch.url, "GET", "/api/health");
    await eventually(() => logFiles().length >= 4, 10_000, "more rotations");
    // keep: 3 rotated files besides the current one.
    await eventually(() => logFiles().length <= 4, 10_000, "old files removed");

    const lines = logFiles()
      .flatMap((f) => readFileSync(path.join(orch.dir, "logs", f), "utf8").split("\n"))
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const requests = lines.filter((l) => l.msg === "request");
    expect(requests.length).toBeGreaterThan(0);
    for (const l of requests) expect(l.request_id).toMatch(/^[0-9a-f-]{36}$/);
  });
});
