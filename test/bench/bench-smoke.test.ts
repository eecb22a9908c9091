// Smoke test of the benchmark: `npm run bench -- --quick` runs every scenario end to end as a child process,
// exits 0 and prints the results table. Timings are never checked here: they belong to the report.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const REPO = path.resolve(import.meta.dirname, "../..");
const SCENARIOS = [
  "1 Overhead",
  "2 Submit throughput",
  "2 Status reads",
  "3 Utilisation",
  "4 Scale",
  "5 Transfer",
  "6 Fairness",
  "7 Mixed models",
  "8 Projects",
  "9 Replicas",
];

describe("bench --quick", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bench-smoke-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("runs every scenario, exits 0 and prints the table", { timeout: 360_000 }, async () => {
    const out = path.join(dir, "report.md");
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(REPO, "bench", "run.ts"), "--quick", "--out", out],
      {
        cwd: REPO,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code, `bench exited ${code}\n${stderr.slice(-3000)}`).toBe(0);

    const lines = stdout.split("\n");
    expect(lines).toContain(
      "| Scenario | Metric | Orchestrator | Baseline (same run) | Ratio | Target | Met |",
    );
    for (const s of SCENARIOS)
      expect(
        lines.some((l) => l.startsWith(`| ${s} |`)),
        `row for ${s}`,
      ).toBe(true);
    expect(stdout).not.toContain("scenario failed");
    expect(readFileSync(out, "utf8")).toContain("| Scenario | Metric |");
  });
});
