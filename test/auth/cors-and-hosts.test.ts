// CORS for browser clients (listed origins only, preflights answered without a key) and credentials toward
// hosts behind an authenticating proxy: sent on every HTTP call and the WebSocket upgrade, never shown.
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, eventually, submit, waitForJob } from "../helpers/api.js";
import { readLogs } from "../helpers/log-files.js";
import { makeTestDir, type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";
import { bearer, KEYS, startKeyed } from "./auth-helpers.js";

const CONSOLE = "https://console.studio.example";

describe("CORS", () => {
  let orch: RunningOrchestrator;
  let plain: RunningOrchestrator;
  beforeAll(async () => {
    orch = await startKeyed({ backends: [], overrides: { server: { cors_origins: [CONSOLE] } } });
    plain = await startOrchestrator({ backends: [] });
  });
  afterAll(async () => {
    await orch?.stop();
    await plain?.stop();
  });

  const preflight = (base: string, origin: string) =>
    fetch(`${base}/api/job`, {
      method: "OPTIONS",
      headers: {
        origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type, idempotency-key",
      },
    });

  it("allows a listed origin's preflight without a key, with the headers a client needs", async () => {
    const r = await preflight(orch.url, CONSOLE);
    expect(r.status).toBe(204);
    expect(r.headers.get("access-control-allow-origin")).toBe(CONSOLE);
    expect(r.headers.get("access-control-allow-methods")).toContain("POST");
    const allowed = r.headers.get("access-control-allow-headers")!.split(/,\s*/);
    expect(allowed).toEqual(
      expect.arrayContaining(["authorization", "x-api-key", "content-type", "idempotency-key"]),
    );

    const get = await fetch(`${orch.url}/api/workflows`, {
      headers: { origin: CONSOLE, ...bearer(KEYS.reader) },
    });
    expect(get.status).toBe(200);
    expect(get.headers.get("access-control-allow-origin")).toBe(CONSOLE);
    expect(get.headers.get("access-control-expose-headers")).toContain("retry-after");
  });

  it("refuses another origin: no CORS headers, and no way past access control", async () => {
    const r = await preflight(orch.url, "https://evil.example");
    expect(r.headers.get("access-control-allow-origin")).toBeNull();
    expect(r.status).toBe(401);
    const get = await fetch(`${orch.url}/api/workflows`, {
      headers: { origin: "https://evil.example", ...bearer(KEYS.reader) },
    });
    expect(get.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("is off by default", async () => {
    const r = await preflight(plain.url, CONSOLE);
    expect(r.headers.get("access-control-allow-origin")).toBeNull();
    expect(r.status).toBe(404);
  });
});

describe("credentials toward hosts", () => {
  const PROXY_TOKEN = "proxy-token-s3cret-xyz";
  const PASSWORD = "basic-pa55word-xyz";
  let basicSim: Simulator;
  let headerSim: Simulator;
  let orch: RunningOrchestrator;
  const dir = makeTestDir();

  beforeAll(async () => {
    basicSim = await startSimulator({
      stepMs: 1,
      requireHeaders: { authorization: `Basic ${Buffer.from(`orch:${PASSWORD}`).toString("base64")}` },
    });
    headerSim = await startSimulator({ stepMs: 1, requireHeaders: { "x-proxy-token": PROXY_TOKEN } });
    orch = await startOrchestrator({
      dir,
      logLevel: "debug",
      backends: [
        {
          id: "basic",
          url: basicSim.url,
          max_inflight: 1,
          basic_auth: { username: "orch", password: PASSWORD },
        },
        { id: "header", url: headerSim.url, max_inflight: 1, headers: { "X-Proxy-Token": PROXY_TOKEN } },
      ],
    });
  });
  afterAll(async () => {
    await orch?.stop();
    await basicSim?.close();
    await headerSim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("are sent on HTTP calls and the WebSocket upgrade, so jobs run on both hosts", async () => {
    await eventually(
      async () => (await api(orch.url, "GET", "/api/health")).body.status === "ok",
      10_000,
      "online",
    );
    // Each host holds our event socket: the upgrade carried the credentials too.
    for (const sim of [basicSim, headerSim]) {
      await eventually(() => sim.connectedClients().some((c) => c.startsWith("orchestrator-")), 10_000, "ws");
    }
    const ids = await Promise.all(
      Array.from({ length: 4 }, () =>
        submit(orch.url, { workflow_id: "invert_image", parameters: { width: 8, height: 8 } }),
      ),
    );
    const jobs = await Promise.all(ids.map((id) => waitForJob(orch.url, id)));
    expect(jobs.every((j) => j.status === "completed")).toBe(true);
    expect(new Set(jobs.map((j) => j.backend_id))).toEqual(new Set(["basic", "header"]));
    // Outputs were downloaded through /view with the credentials as well.
    expect(jobs.every((j) => j.outputs.length === 1)).toBe(true);
  });

  it("are never shown in /api/backends or written to the log", async () => {
    const text = JSON.stringify((await api(orch.url, "GET", "/api/backends")).body);
    for (const secret of [PROXY_TOKEN, PASSWORD, "Basic "]) expect(text).not.toContain(secret);
    await orch.stop();
    const log = await eventually(() => {
      const t = readLogs(dir);
      return t.includes('"job completed"') ? t : null;
    });
    const basic = Buffer.from(`orch:${PASSWORD}`).toString("base64");
    for (const secret of [PROXY_TOKEN, PASSWORD, basic]) expect(log).not.toContain(secret);
  });

  it("a host that refuses them shows as offline with the 401", async () => {
    const strict = await startSimulator({ stepMs: 1, requireHeaders: { "x-proxy-token": "other" } });
    const o = await startOrchestrator({
      backends: [{ id: "wrong", url: strict.url, headers: { "X-Proxy-Token": PROXY_TOKEN } }],
    });
    try {
      const b = await eventually(async () => {
        const backends = (await api(o.url, "GET", "/api/backends")).body.backends;
        return backends[0].last_error ? backends[0] : null;
      });
      expect(b.status).toBe("offline");
      expect(b.last_error).toContain("401");
      expect(JSON.stringify(b)).not.toContain(PROXY_TOKEN);
    } finally {
      await o.stop();
      await strict.close();
    }
  });
});
