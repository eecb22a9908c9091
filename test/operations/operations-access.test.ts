// With access control on, fleet changes and reloads are admin-only; reading the fleet and /metrics takes a read key.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { as, authSection, KEYS, startKeyed } from "../auth/auth-helpers.js";
import { expectError } from "../helpers/api.js";
import type { RunningOrchestrator } from "../helpers/orchestrator.js";

let orch: RunningOrchestrator;
beforeAll(async () => {
  orch = await startKeyed({
    backends: [{ id: "s", url: "http://127.0.0.1:1", enabled: false }],
    configFile: true,
    auth: authSection(),
  });
});
afterAll(async () => {
  await orch?.stop();
});

describe("operations routes and roles", () => {
  it("refuses fleet changes and reloads to a submit key, and allows them to the admin key", async () => {
    const alice = as(KEYS.alice);
    const admin = as(KEYS.admin);
    const reader = as(KEYS.reader);
    expectError(await alice(orch.url, "POST", "/api/admin/reload"), 403, "FORBIDDEN");
    expectError(
      await alice(orch.url, "POST", "/api/backends", { id: "x", host: "127.0.0.1" }),
      403,
      "FORBIDDEN",
    );
    expectError(await alice(orch.url, "PATCH", "/api/backends/s", { weight: 2 }), 403, "FORBIDDEN");
    expectError(await alice(orch.url, "DELETE", "/api/backends/s"), 403, "FORBIDDEN");
    expect((await reader(orch.url, "GET", "/api/backends/s")).status).toBe(200);
    expect((await admin(orch.url, "POST", "/api/admin/reload")).status).toBe(200);
    expect((await admin(orch.url, "PATCH", "/api/backends/s", { weight: 2 })).body.weight).toBe(2);

    expect((await fetch(`${orch.url}/metrics`)).status).toBe(401);
    const res = await fetch(`${orch.url}/metrics`, { headers: { authorization: `Bearer ${KEYS.reader}` } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("orchestrator_backend_state");
  });
});
