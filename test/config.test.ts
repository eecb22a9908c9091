// Config: defaults, path resolution, and start-up refusing a bad file with one line per problem.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, configPathFrom, loadConfig, parseConfig } from "../src/config.js";
import { REPO } from "./helpers/orchestrator.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "orch-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function problems(raw: unknown): string[] {
  try {
    parseConfig(raw, "c.yaml", dir);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe("config", () => {
  it("fills defaults and resolves paths against the config file's folder", () => {
    const c = parseConfig({ backends: [{ id: "a", host: "127.0.0.1" }] }, "c.yaml", dir);
    expect(c.server.port).toBe(8080);
    expect(c.backends[0]).toMatchObject({ port: 8188, enabled: true, capabilities: [] });
    expect(c.database_path).toBe(path.join(dir, "data", "orchestrator.db"));
    expect(c.workflows_dir).toBe(path.join(dir, "data", "workflows"));
  });

  it("names the key of every problem", () => {
    const p = problems({
      bogus: 1,
      server: { port: "80x" },
      backends: [
        { id: "a", host: "h", port: "8188x" },
        { id: "a", host: "h", colour: 1 },
      ],
    });
    expect(p).toContain('backends[0].port: expected integer 1..65535, got "8188x"');
    expect(p).toContain("backends[1].colour: unknown key");
    expect(p).toContain("bogus: unknown key");
    expect(p.some((x) => x.startsWith("server.port:"))).toBe(true);
    expect(
      problems({
        backends: [
          { id: "a", host: "h" },
          { id: "a", host: "h" },
        ],
      }),
    ).toEqual(['backends[1].id: duplicate id "a" (also backends[0])']);
  });

  it("reports YAML syntax errors with a line number", () => {
    const file = path.join(dir, "broken.yaml");
    writeFileSync(file, "server:\n  port: 1\n  port: 2\n");
    expect(() => loadConfig(file)).toThrow(/line 3/);
  });

  it("takes --config, then ORCHESTRATOR_CONFIG, then ./config.yaml", () => {
    expect(configPathFrom(["--config", "a.yaml"], { ORCHESTRATOR_CONFIG: "b.yaml" })).toBe("a.yaml");
    expect(configPathFrom(["--config=c.yaml"], {})).toBe("c.yaml");
    expect(configPathFrom([], { ORCHESTRATOR_CONFIG: "b.yaml" })).toBe("b.yaml");
    expect(configPathFrom([], {})).toBe("config.yaml");
  });

  it("the shipped config.yaml is valid", () => {
    expect(loadConfig(path.join(REPO, "config.yaml")).backends.length).toBeGreaterThan(0);
  });

  it("a bad config stops start-up with exit code 1 and a message naming the key", () => {
    const file = path.join(dir, "bad.yaml");
    writeFileSync(file, "backends:\n  - id: gpu-1\n    host: 127.0.0.1\n    port: 8188x\n");
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", path.join(REPO, "src", "main.ts"), "--config", file],
      { cwd: REPO, encoding: "utf8", timeout: 30_000 },
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('backends[0].port: expected integer 1..65535, got "8188x"');
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/); // no stack trace
  });
});
