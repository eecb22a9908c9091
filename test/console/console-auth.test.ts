// The console with access control on: it asks for a key on the first 401, keeps it for the tab only, sends
// it on HTTP and on the event socket, shows outputs fetched with it, and shows a refused action's error.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, untilHealthy } from "../helpers/api.js";
import { ARTIFACTS, BROWSER_SETUP_TIMEOUT_MS, launchBrowser, type TestBrowser } from "../helpers/browser.js";
import { type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

const ADMIN = "console-admin-key-0123456789";
const READER = "console-reader-key-012345678";

let sim: Simulator;
let orch: RunningOrchestrator;
let browser: TestBrowser;

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 2 });
  orch = await startOrchestrator({
    backends: [{ id: "sim-1", url: sim.url }],
    overrides: {
      auth: {
        keys: [
          { id: "ops", key: ADMIN, role: "admin" },
          { id: "viewer", key: READER, role: "read" },
        ],
      },
    },
  });
  browser = await launchBrowser();
  await untilHealthy(orch.url);
}, BROWSER_SETUP_TIMEOUT_MS);

afterAll(async () => {
  await browser?.close();
  await orch?.stop();
  await sim?.close();
});

async function openWithKey(key: string, hash = "", screenshot?: string) {
  const page = await browser.context.newPage();
  // Roomy: on a loaded machine the key check and first page render have taken over 15 s.
  page.setDefaultTimeout(30_000);
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${orch.url}/console/${hash}`);
  const prompt = page.locator("form.api-key-prompt");
  await prompt.waitFor();
  if (screenshot) await page.screenshot({ path: path.join(ARTIFACTS, `${screenshot}.png`) });
  await prompt.locator('input[name="api_key"]').fill(key);
  await prompt.getByRole("button", { name: "Use this key" }).click();
  await prompt.waitFor({ state: "detached" });
  return { page, errors };
}

describe("console with API keys", () => {
  it("asks for a key, keeps it for this tab only, and follows the fleet live with it", async () => {
    const { page, errors } = await openWithKey(READER, "", "api-key");
    await page.locator('[data-host="sim-1"] [data-status="online"]').waitFor();
    await page.locator(".stream-live").waitFor();
    expect(
      await page.evaluate(() => (globalThis as any).sessionStorage.getItem("orchestrator.api_key")),
    ).toBe(READER);
    expect(await page.evaluate(() => (globalThis as any).localStorage.length)).toBe(0);
    // A read key may look but not drain: the card shows the server's refusal.
    await page.locator('[data-host="sim-1"]').getByRole("button", { name: "Drain" }).click();
    const refusal = page.locator('[data-host="sim-1"] .error-text');
    await refusal.waitFor();
    expect(await refusal.textContent()).toContain('needs "admin"');
    expect(
      (await api(orch.url, "GET", "/api/backends", undefined, { authorization: `Bearer ${ADMIN}` })).body
        .backends[0].state,
    ).toBe("online");
    // Another tab has its own session storage: it asks again.
    const other = await browser.context.newPage();
    await other.goto(`${orch.url}/console/`);
    await other.locator("form.api-key-prompt").waitFor();
    await other.close();
    await page.close();
    expect(errors).toEqual([]);
  });

  it("says so when a key is refused, then takes a good one", async () => {
    const page = await browser.context.newPage();
    // Roomy: on a loaded machine the key check and first page render have taken over 15 s.
    page.setDefaultTimeout(30_000);
    await page.goto(`${orch.url}/console/`);
    const prompt = page.locator("form.api-key-prompt");
    await prompt.locator('input[name="api_key"]').fill("not-a-key-at-all-0000000");
    await prompt.getByRole("button", { name: "Use this key" }).click();
    await prompt.locator("text=not accepted").waitFor();
    await prompt.locator('input[name="api_key"]').fill(ADMIN);
    await prompt.getByRole("button", { name: "Use this key" }).click();
    await page.locator('[data-host="sim-1"] [data-status="online"]').waitFor();
    await page.close();
  });

  it("submits with an admin key, shows the output fetched with the key, and the job's owner", async () => {
    const { page, errors } = await openWithKey(ADMIN, "#/submit?workflow=invert_image");
    const form = page.locator("form.submit-form");
    await form.locator('input[name="width"]').fill("40");
    await form.locator('input[name="height"]').fill("20");
    await form.getByRole("button", { name: "Submit" }).click();
    await page.waitForURL(/#\/job\//);
    await page.locator('.job-page[data-status="completed"]').waitFor();
    const img = page.locator("img.output-image");
    await img.waitFor();
    await img.evaluate(
      (el: any) =>
        el.complete ||
        new Promise((r) => {
          el.addEventListener("load", r, { once: true });
          el.addEventListener("error", r, { once: true });
        }),
    );
    expect(await img.evaluate((el: any) => [el.naturalWidth, String(el.src).startsWith("blob:")])).toEqual([
      40,
      true,
    ]);
    await page.goto(`${orch.url}/console/#/jobs`);
    await page.locator("table.jobs tbody tr td", { hasText: "ops" }).first().waitFor();
    await page.close();
    expect(errors).toEqual([]);
  });
});
