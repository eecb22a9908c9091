// Attempts to get past access control: other spellings of a path, other methods, keys that are almost
// right, keys in places they are not read from. Each must fail without revealing or changing anything.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, expectError, submit, waitForJob } from "../helpers/api.js";
import type { RunningOrchestrator } from "../helpers/orchestrator.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";
import { bearer, KEYS, startKeyed } from "./auth-helpers.js";

let sim: Simulator;
let orch: RunningOrchestrator;
let aliceJob: string;
const manifest = { workflow_id: "invert_image", parameters: { width: 8, height: 8 } };

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 1 });
  orch = await startKeyed({ backends: [{ id: "sim", url: sim.url }] });
  aliceJob = await submit(orch.url, manifest, bearer(KEYS.alice));
  await waitForJob(orch.url, aliceJob, undefined, undefined, bearer(KEYS.alice));
});
afterAll(async () => {
  await orch?.stop();
  await sim?.close();
});

/** A raw request: fetch() would normalise some of these paths before sending them. */
async function raw(method: string, path: string, headers: Record<string, string> = {}) {
  const { request } = await import("node:http");
  const url = new URL(orch.url);
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      let body = "";
      res.on("data", (d) => {
        body += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("path spellings", () => {
  it("other case, doubled, encoded or dotted slashes never reach a route without a key", async () => {
    for (const path of [
      "/API/jobs",
      "/Api/jobs",
      "/api//jobs",
      "//api/jobs",
      "/%2Fapi/jobs",
      "/%2fapi%2fjobs",
      "/%61pi/jobs",
      "/api/%6Aobs",
      "/api/./jobs",
      "/./api/jobs",
      "/api/x/../jobs",
      "/api/jobs/",
      "/api/jobs%00",
      "/api\\jobs",
      `/api/job/${aliceJob}/`,
      `/api/job/${aliceJob}/outputs/..%2f..%2fjobs`,
    ]) {
      const r = await raw("GET", path);
      // 401 even where no route matches: probing without a key says nothing about which routes exist.
      expect(r.status, `${path} → ${r.body}`).toBe(401);
      expect(JSON.parse(r.body).error.code, path).toBe("UNAUTHENTICATED");
    }
  });

  it("with a read key, no spelling of an admin route is let through", async () => {
    for (const path of ["/api/keys", "/API/keys", "/api//keys", "/%61pi/keys", "/api/./keys", "/api/keys/"]) {
      const r = await raw("GET", path, bearer(KEYS.reader));
      expect([403, 404], `${path} → ${r.status} ${r.body}`).toContain(r.status);
      expect(r.body, path).not.toContain('"keys"');
    }
  });
});

describe("methods", () => {
  it("HEAD needs a key like GET, and another key's job is 404 to it too", async () => {
    expect((await raw("HEAD", "/api/jobs")).status).toBe(401);
    expect((await raw("HEAD", `/api/job/${aliceJob}`)).status).toBe(401);
    expect((await raw("HEAD", `/api/job/${aliceJob}`, bearer(KEYS.bob))).status).toBe(404);
    expect((await raw("HEAD", `/api/job/${aliceJob}`, bearer(KEYS.alice))).status).toBe(200);
  });

  it("OPTIONS and method-override headers get nothing", async () => {
    const r = await raw("OPTIONS", "/api/jobs");
    expect(r.status).toBe(401);
    const o = await raw("OPTIONS", "/api/jobs", {
      origin: "http://evil.example",
      "access-control-request-method": "GET",
    });
    expect(o.status).toBe(401);
    const override = await raw("GET", "/api/backends/sim/drain", {
      ...bearer(KEYS.alice),
      "x-http-method-override": "POST",
    });
    expect(override.status).toBe(404); // no GET route: the header is not honoured
    const backends = await api(orch.url, "GET", "/api/backends", undefined, bearer(KEYS.admin));
    expect(backends.body.backends[0].state).toBe("online");
  });
});

describe("keys that are almost right", () => {
  it("spaces, truncation, extra characters, case and encodings are refused", async () => {
    const k = KEYS.admin;
    for (const auth of [
      `Bearer  ${k}`,
      `Bearer ${k} extra`,
      `Bearer ${k.slice(0, 5)} ${k.slice(5)}`,
      `Bearer\t${k}`,
      `Bearer ${k.slice(0, -1)}`,
      `Bearer ${k}x`,
      `Bearer ${k.toUpperCase()}`,
      `Bearer ${encodeURIComponent(`${k} `)}`,
      `Bearer ${Buffer.from(k).toString("base64")}`,
      `Bearer "${k}"`,
    ]) {
      const r = await api(orch.url, "GET", "/api/keys", undefined, { authorization: auth });
      expectError(r, 401, "UNAUTHENTICATED");
    }
    for (const key of [`${k.slice(0, 4)} ${k.slice(4)}`, `${k}, ${k}`, `${k};`]) {
      expectError(
        await api(orch.url, "GET", "/api/keys", undefined, { "x-api-key": key }),
        401,
        "UNAUTHENTICATED",
      );
    }
  });

  it("a key in a header or parameter that is not read is no key at all", async () => {
    const k = KEYS.admin;
    for (const headers of <Record<string, string>[]>[
      { authorization: k },
      { authorization: `Basic ${Buffer.from(`admin:${k}`).toString("base64")}` },
      { authorization: `Token ${k}` },
      { authorization: `Bearer` },
      { "x-api-token": k },
      { "api-key": k },
      { cookie: `token=${k}` },
    ]) {
      expectError(await api(orch.url, "GET", "/api/keys", undefined, headers), 401, "UNAUTHENTICATED");
    }
    for (const q of [`token=${k}`, `api_key=${k}`, `key=${k}`]) {
      expectError(await api(orch.url, "GET", `/api/keys?${q}`), 401, "UNAUTHENTICATED");
    }
  });

  it("two different keys in one request are refused, not resolved in favour of either", async () => {
    const r = await api(orch.url, "GET", "/api/keys", undefined, {
      ...bearer(KEYS.reader),
      "x-api-key": KEYS.admin,
    });
    expectError(r, 401, "UNAUTHENTICATED");
    expect(r.body.error.details.reason).toBe("conflicting_keys");
  });
});
