// The console's files as the server serves them: where the pages live, the view library from
// node_modules, and nothing else reachable through those routes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectError } from "../helpers/api.js";
import { type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";

let orch: RunningOrchestrator;

beforeAll(async () => {
  orch = await startOrchestrator({ backends: [] });
});
afterAll(async () => {
  await orch?.stop();
});

async function get(path: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${orch.url}${path}`, { redirect: "manual", headers });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe("console assets", () => {
  it("sends / and /console to the console page", async () => {
    for (const path of ["/", "/console"]) {
      const r = await get(path);
      expect(r.status).toBe(302);
      expect(r.headers.get("location")).toBe("/console/");
    }
  });

  it("serves the page with a policy that allows only this server", async () => {
    const r = await get("/console/");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(r.text).toContain('<script type="module" src="/console/main.js">');
    const csp = r.headers.get("content-security-policy")!;
    expect(csp).toContain("default-src 'self'");
    expect(csp).toMatch(/script-src 'self' 'sha256-[A-Za-z0-9+/=]+'/);
    // No asset from anywhere else: every src/href in the page is a path on this server.
    const refs = [...r.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.filter((u) => !u.startsWith("/"))).toEqual([]);
  });

  it("serves preact, its hooks and htm from node_modules as JavaScript modules", async () => {
    for (const file of ["preact.mjs", "preact-hooks.mjs", "htm.mjs"]) {
      const r = await get(`/console/vendor/${file}`);
      expect(r.status, file).toBe(200);
      expect(r.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
      expect(r.text).toMatch(/\bexport\b/);
    }
  });

  it("answers 304 to a revalidation of an unchanged file", async () => {
    const first = await get("/console/main.js");
    expect(first.status).toBe(200);
    const etag = first.headers.get("etag")!;
    expect((await get("/console/main.js", { "if-none-match": etag })).status).toBe(304);
  });

  it("stays out of the API description: the console is a client of the API, not part of it", async () => {
    const doc = JSON.parse((await get("/api/openapi.json")).text);
    expect(Object.keys(doc.paths).filter((p) => !p.startsWith("/api/"))).toEqual([]);
  });

  it("refuses anything outside the console folder and the listed modules", async () => {
    for (const path of [
      "/console/../src/app.ts",
      "/console/..%2fsrc%2fapp.ts",
      "/console/%2e%2e/package.json",
      "/console/lib/../../../package.json",
      "/console/vendor/preact.js",
      "/console/vendor/..%2f..%2fpackage.json",
      "/console/.hidden.js",
      "/console/main.ts",
      "/console/nope.js",
    ]) {
      const res = await fetch(`${orch.url}${path}`);
      const body = await res.json().catch(() => null);
      expectError({ status: res.status, body }, 404, "NOT_FOUND");
    }
  });
});
