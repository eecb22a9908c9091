// /docs in a real headless Chromium: Swagger UI renders every operation of the OpenAPI document from this
// server alone (no CDN, no online validator), with no script errors.
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ARTIFACTS, BROWSER_SETUP_TIMEOUT_MS, launchBrowser, type TestBrowser } from "../helpers/browser.js";
import { type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";

let orch: RunningOrchestrator;
let browser: TestBrowser;

beforeAll(async () => {
  orch = await startOrchestrator({ backends: [] });
  browser = await launchBrowser();
}, BROWSER_SETUP_TIMEOUT_MS);
afterAll(async () => {
  await browser?.close();
  await orch?.stop();
});

it("renders the API reference offline, one entry per operation", async () => {
  const doc = (await (await fetch(`${orch.url}/api/openapi.json`)).json()) as {
    paths: Record<string, object>;
  };
  const operations = Object.values(doc.paths).reduce((n, ops) => n + Object.keys(ops).length, 0);
  const page = await browser.context.newPage();
  const requests: string[] = [];
  const errors: string[] = [];
  page.on("request", (r) => requests.push(r.url()));
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${orch.url}/docs/`);
  await page.locator(".opblock").first().waitFor({ timeout: 15_000 });
  expect(await page.locator(".opblock").count()).toBe(operations);
  await expect.poll(() => page.locator(".info .title").textContent()).toContain("Orchestrator");
  await page.locator(".opblock-summary-path", { hasText: "/api/job/{id}/events" }).first().click();
  await page.locator(".opblock-body").first().waitFor();
  await page.screenshot({ path: path.join(ARTIFACTS, "api-docs.png") });
  await page.close();
  expect(errors).toEqual([]);
  const origin = new URL(orch.url).host;
  expect(requests.filter((u) => !u.startsWith("data:") && new URL(u).host !== origin)).toEqual([]);
});
