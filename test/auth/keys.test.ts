// API keys over their life: made at runtime by an admin (shown once), used, listed without secrets,
// revoked (then 401); expired keys; keys never in the logs, not even from `?token=`; auth off says so.
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, eventually, expectError, submit, untilHealthy, waitForJob } from "../helpers/api.js";
import { readLogs } from "../helpers/log-files.js";
import { makeTestDir, type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";
import { as, authSection, bearer, KEYS, startKeyed } from "./auth-helpers.js";

let sim: Simulator;
const admin = as(KEYS.admin);
const manifest = { workflow_id: "invert_image", parameters: { width: 8, height: 8 } };

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 1 });
});
afterAll(async () => {
  await sim?.close();
});

describe("runtime keys", () => {
  let orch: RunningOrchestrator;
  const secrets: string[] = [...Object.values(KEYS)];
  // Our own folder, so the log file outlives stop().
  const dir = makeTestDir();
  beforeAll(async () => {
    orch = await startKeyed({
      dir,
      backends: [{ id: "sim", url: sim.url }],
      logLevel: "debug",
      auth: authSection({
        keys: [
          ...authSection().keys,
          { id: "old", key: "expired-key-0123456789abc", role: "admin", expires_at: "2020-01-01T00:00:00Z" },
        ],
      }),
    });
  });
  afterAll(async () => {
    await orch?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("are created by an admin, shown once, work, and answer 401 once revoked", async () => {
    const made = await admin(orch.url, "POST", "/api/keys", {
      id: "script",
      name: "nightly",
      role: "submit",
    });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ id: "script", name: "nightly", role: "submit", source: "api" });
    const key: string = made.body.key;
    secrets.push(key);
    expect(key).toMatch(/^orch_[A-Za-z0-9_-]{40,}$/);

    const job = await submit(orch.url, manifest, bearer(key));
    const done = await waitForJob(orch.url, job, undefined, undefined, bearer(key));
    expect(done).toMatchObject({ status: "completed", owner: "script" });

    const list = await admin(orch.url, "GET", "/api/keys");
    expect(list.status).toBe(200);
    expect(list.body.keys.map((k: { id: string }) => k.id)).toEqual([
      "admin",
      "alice",
      "bob",
      "reader",
      "old",
      "script",
    ]);
    const text = JSON.stringify(list.body);
    for (const s of secrets) expect(text).not.toContain(s);
    expect(text).not.toContain("sha256");

    const revoked = await admin(orch.url, "DELETE", "/api/keys/script");
    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked_at).toBeTruthy();
    const r = await api(orch.url, "GET", "/api/jobs", undefined, bearer(key));
    expectError(r, 401, "UNAUTHENTICATED");
    expect(r.body.error.details.reason).toBe("revoked");
    // Its jobs stay, for an admin to see.
    expect((await admin(orch.url, "GET", `/api/job/${job}`)).body.owner).toBe("script");
  });

  it("refuses ids that are taken, config keys' revocation and bad bodies, naming the field", async () => {
    expectError(
      await admin(orch.url, "POST", "/api/keys", { id: "alice", role: "read" }),
      409,
      "KEY_CONFLICT",
    );
    expectError(
      await admin(orch.url, "POST", "/api/keys", { id: "script", role: "read" }),
      409,
      "KEY_CONFLICT",
    );
    expectError(await admin(orch.url, "DELETE", "/api/keys/alice"), 409, "KEY_CONFLICT");
    expectError(await admin(orch.url, "DELETE", "/api/keys/nobody"), 404, "KEY_NOT_FOUND");
    const bad = await admin(orch.url, "POST", "/api/keys", { role: "root" });
    expectError(bad, 400, "VALIDATION_FAILED");
    expect(bad.body.error.details.fields[0].field).toBe("role");
    const past = await admin(orch.url, "POST", "/api/keys", {
      role: "read",
      expires_at: "2020-01-01T00:00:00Z",
    });
    expectError(past, 400, "VALIDATION_FAILED");
    expect(past.body.error.details.fields[0].field).toBe("expires_at");
  });

  it("an expired key is refused, saying so", async () => {
    const r = await api(orch.url, "GET", "/api/jobs", undefined, bearer("expired-key-0123456789abc"));
    expectError(r, 401, "UNAUTHENTICATED");
    expect(r.body.error.details.reason).toBe("expired");
  });

  it("no key ever reaches the log, even from ?token= or a key made at runtime", async () => {
    const made = await admin(orch.url, "POST", "/api/keys", { role: "read" });
    secrets.push(made.body.key);
    await api(orch.url, "GET", `/api/job/nope/events?token=${made.body.key}`);
    await api(orch.url, "GET", `/api/jobs?token=${KEYS.alice}`);
    await api(orch.url, "GET", "/api/jobs", undefined, bearer("wrong-key-0123456789abcdef"));
    await orch.stop();
    const log = await eventually(() => {
      const text = readLogs(orch.dir);
      return text.includes("token=REDACTED") && text.includes('"api key created"') ? text : null;
    });
    for (const s of [...secrets, "wrong-key-0123456789abcdef"]) expect(log).not.toContain(s);
  });
});

describe("with no key configured", () => {
  let orch: RunningOrchestrator;
  const dir = makeTestDir();
  beforeAll(async () => {
    orch = await startOrchestrator({ dir, backends: [{ id: "sim", url: sim.url }] });
    await untilHealthy(orch.url);
  });
  afterAll(async () => {
    await orch?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("says so once at start-up", async () => {
    const log = await eventually(() => {
      const text = readLogs(dir);
      return text.includes("access control is off") ? text : null;
    });
    expect(log.split("access control is off").length - 1).toBe(1);
  });

  it("runs open, says so in /api/health, and records no owner", async () => {
    expect((await api(orch.url, "GET", "/api/health")).body.auth).toBe("off");
    const id = await submit(orch.url, manifest);
    expect((await waitForJob(orch.url, id)).owner).toBeNull();
    // A key sent anyway is simply not looked at.
    expect(
      (await api(orch.url, "GET", "/api/jobs", undefined, bearer("anything-0123456789abcdef"))).status,
    ).toBe(200);
  });

  it("will not make runtime keys until config.yaml has one", async () => {
    const r = await api(orch.url, "POST", "/api/keys", { role: "admin" });
    expectError(r, 409, "AUTH_OFF");
    expect(r.body.error.details.field).toBe("auth.keys");
  });
});
