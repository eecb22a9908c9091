// The `webhooks` and `retention` config sections: safe defaults, and a signed-only rule checked at start-up.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/config.js";
import { api, expectError } from "../helpers/api.js";
import { type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";

const parse = (raw: unknown) => parseConfig(raw, "config.yaml", "/tmp");

describe("config", () => {
  it("defaults: webhooks off, 7 days of retention swept hourly", () => {
    const c = parse({});
    expect(c.webhooks).toEqual({ allowed_hosts: [], max_attempts: 8, backoff_s: 2, timeout_s: 10 });
    expect(c.retention).toEqual({ output_retention_days: 7, sweep_interval_s: 3600 });
  });

  it("refuses allowed hosts without a secret, and a short secret", () => {
    expect(() => parse({ webhooks: { allowed_hosts: ["hooks.example.com"] } })).toThrow(
      /webhooks\.secret: required/,
    );
    expect(() => parse({ webhooks: { secret: "short", allowed_hosts: ["*"] } })).toThrow(ConfigError);
    const ok = parse({ webhooks: { secret: "0123456789abcdef", allowed_hosts: ["Hooks.Example.com"] } });
    expect(ok.webhooks.allowed_hosts).toEqual(["hooks.example.com"]);
  });
});

describe("a server without webhook config", () => {
  let orch: RunningOrchestrator;
  beforeAll(async () => {
    orch = await startOrchestrator({ backends: [] });
  });
  afterAll(async () => orch?.stop());

  it("refuses any webhook_url with a 400 naming the field", async () => {
    const r = await api(orch.url, "POST", "/api/job", {
      workflow_id: "invert_image",
      webhook_url: "http://127.0.0.1:9/hook",
    });
    expectError(r, 400, "VALIDATION_FAILED");
    expect(r.body.error.details.fields).toEqual([
      { field: "webhook_url", message: expect.stringContaining("not enabled") },
    ]);
  });
});
