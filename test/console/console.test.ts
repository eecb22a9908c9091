// The web console in a real headless Chromium against a real server and simulated ComfyUI hosts: the fleet
// page, submitting through the form, host controls, a failed job, and the live jobs table. Screenshots of
// each page go to test-artifacts/console/.
import path from "node:path";
import type { Page } from "playwright-core";
import { PNG } from "pngjs";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { api, eventually, submit, waitForJob } from "../helpers/api.js";
import { ARTIFACTS, BROWSER_SETUP_TIMEOUT_MS, launchBrowser, type TestBrowser } from "../helpers/browser.js";
import { type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

// A browser test waits on several page states in a row; on a loaded 2-core machine each can take seconds.
vi.setConfig({ testTimeout: 90_000 });

let fast: Simulator;
let slow: Simulator;
let cpu: Simulator;
let orch: RunningOrchestrator;
let browser: TestBrowser;

/** Everything the page fetched, and every script error it hit: a test fails on either going wrong. */
interface WatchedPage {
  page: Page;
  requests: string[];
  errors: string[];
}

async function open(hash = ""): Promise<WatchedPage> {
  const page = await browser.context.newPage();
  page.setDefaultTimeout(25_000);
  const requests: string[] = [];
  const errors: string[] = [];
  page.on("request", (r) => requests.push(r.url()));
  page.on("pageerror", (e) => errors.push(e.message));
  // Chromium logs every 4xx answer as a console error; tests that expect one assert on the page instead.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) errors.push(m.text());
  });
  await page.goto(`${orch.url}/${hash}`);
  // Live: subscribed to /api/ws, so every event from here on reaches the page.
  await page.locator(".stream-live").waitFor();
  return { page, requests, errors };
}

/** The natural size of the first output image once the browser has loaded (or failed to load) it. */
async function loadedImageSize(page: Page): Promise<[number, number]> {
  const img = page.locator("img.output-image").first();
  await img.waitFor();
  await img.evaluate(
    (el: any) =>
      el.complete ||
      new Promise((r) => {
        el.addEventListener("load", r, { once: true });
        el.addEventListener("error", r, { once: true });
      }),
  );
  return img.evaluate((el: any) => [el.naturalWidth, el.naturalHeight] as [number, number]);
}

async function done(w: WatchedPage, screenshot?: string) {
  if (screenshot)
    await w.page.screenshot({ path: path.join(ARTIFACTS, `${screenshot}.png`), fullPage: true });
  await w.page.close();
  expect(w.errors).toEqual([]);
  // Works offline: nothing but our own server (no CDN, no fonts).
  const origin = new URL(orch.url);
  const foreign = w.requests.filter((u) => {
    const p = new URL(u);
    return !["blob:", "data:"].includes(p.protocol) && p.host !== origin.host;
  });
  expect(foreign).toEqual([]);
}

beforeAll(async () => {
  [fast, slow, cpu] = await Promise.all([
    startSimulator({ stepMs: 2, deviceName: "NVIDIA GeForce RTX 4090" }),
    startSimulator({ stepMs: 40, vramTotalGb: 12, vramFreeGb: 7, deviceName: "NVIDIA RTX A2000" }),
    startSimulator({ stepMs: 2, cpu: true }),
  ]);
  orch = await startOrchestrator({
    backends: [
      { id: "gpu-fast", url: fast.url },
      { id: "gpu-slow", url: slow.url },
      // Takes no work in these tests (so jobs land where a test expects), but shows a CPU host's card.
      { id: "cpu-box", url: cpu.url, enabled: false },
      // Configured but not there: nothing listens on port 1 (a freed ephemeral port could be reused).
      { id: "gpu-gone", url: "http://127.0.0.1:1" },
    ],
  });
  browser = await launchBrowser();
  await eventually(async () => {
    const { body } = await api(orch.url, "GET", "/api/backends");
    return body.backends.filter((b: any) => b.state === "online").length === 2;
  });
}, BROWSER_SETUP_TIMEOUT_MS);

// A test that failed half-way must not leave a host drained or disabled for the next one.
afterEach(async () => {
  for (const id of ["gpu-fast", "gpu-slow"]) await api(orch.url, "POST", `/api/backends/${id}/enable`);
  fast.clearFaults();
  slow.clearFaults();
});

afterAll(async () => {
  await browser?.close();
  await orch?.stop();
  await Promise.all([fast?.close(), slow?.close(), cpu?.close()]);
});

describe("fleet page", () => {
  it("shows each simulated host online, with its device and VRAM", async () => {
    const w = await open();
    await w.page.waitForURL(/\/console\/$/);
    const card = w.page.locator('[data-host="gpu-fast"]');
    await card.locator('[data-status="online"]').waitFor();
    expect(await card.locator(".device").textContent()).toContain("GPU");
    expect(await w.page.locator('[data-host="gpu-slow"] .vram').textContent()).toContain("5.0 GB / 12 GB");
    await w.page.locator('[data-host="gpu-gone"] [data-status="offline"]').waitFor();
    const cpuCard = w.page.locator('[data-host="cpu-box"]');
    await cpuCard.locator('[data-status="disabled"]').waitFor();
    await cpuCard.locator(".device", { hasText: "CPU" }).waitFor();
    expect(await cpuCard.locator(".vram").textContent()).toContain("no GPU");
    await done(w);
  });

  it("shows what a host runs now, live, with its progress and preview", async () => {
    // A few finished jobs first, so the hosts' counters and average times have something to show.
    for (let i = 0; i < 4; i++)
      await api(orch.url, "POST", "/api/job?wait=30", {
        workflow_id: "txt2img_basic",
        parameters: { prompt: "warm-up", steps: 4, width: 64, height: 64 },
      });
    await api(orch.url, "POST", "/api/backends/gpu-fast/drain");
    const w = await open();
    // Hosts render previews only for prompts that ask, and a job asks when it is dispatched while someone
    // follows it with previews: the console must be subscribed first.
    await w.page.locator(".stream-live").waitFor();
    const id = await submit(orch.url, {
      workflow_id: "txt2img_basic",
      parameters: { prompt: "a lighthouse", steps: 100, width: 64, height: 64 },
    });
    const card = w.page.locator('[data-host="gpu-slow"]');
    await card.locator(`a[href="#/job/${id}"]`).waitFor();
    await card.locator(".current .bar-label", { hasText: "KSampler" }).waitFor();
    await card.locator("img.preview").waitFor();
    await done(w, "fleet");
    await waitForJob(orch.url, id);

    const job = await open(`#/job/${id}`);
    await job.page.locator('.job-page[data-status="completed"]').waitFor();
    expect((await loadedImageSize(job.page))[0]).toBe(64);
    await done(job, "job");
  });

  it("drains a host from its card, and enables it again", async () => {
    const w = await open();
    const card = w.page.locator('[data-host="gpu-fast"]');
    await card.locator('[data-status="online"]').waitFor();
    await card.getByRole("button", { name: "Drain" }).click();
    await card.locator('[data-status="drained"]').waitFor();
    expect((await api(orch.url, "GET", "/api/backends")).body.backends[0].state).toBe("drained");
    await card.getByRole("button", { name: "Enable" }).click();
    await card.locator('[data-status="online"]').waitFor();
    await done(w);
  });
});

describe("submit form and job page", () => {
  it("submits invert_image from the form, then shows the job completing with its image", async () => {
    const w = await open("#/submit?workflow=invert_image");
    const form = w.page.locator("form.submit-form");
    await form.locator('input[name="width"]').fill("96");
    await form.locator('input[name="height"]').fill("64");
    await form.getByRole("button", { name: "Submit" }).click();
    await w.page.waitForURL(/#\/job\//);
    await w.page.locator('.job-page[data-status="completed"]').waitFor();
    expect(await loadedImageSize(w.page)).toEqual([96, 64]);
    const id = decodeURIComponent(w.page.url().split("#/job/")[1]!);
    const job = (await api(orch.url, "GET", `/api/job/${id}`)).body;
    expect(job).toMatchObject({ status: "completed", workflow_id: "invert_image" });
    expect(job.parameters).toMatchObject({ width: 96, height: 64 });
    expect(await w.page.locator(".attempts tbody tr").count()).toBe(1);
    await done(w, "job-invert");
  });

  it("takes an image parameter by drag-and-drop and by file picker, as multipart uploads", async () => {
    const png = new PNG({ width: 40, height: 30 });
    png.data.fill(200);
    const bytes = PNG.sync.write(png).toString("base64");
    const w = await open("#/submit?workflow=scale_image");
    const form = w.page.locator("form.submit-form");
    const drop = form.locator('[data-field="image"] .drop');
    await drop.waitFor();
    // What a file dragged from the desktop delivers: a drop event whose DataTransfer holds the file.
    const dataTransfer = await w.page.evaluateHandle((b64) => {
      const dt = new (globalThis as any).DataTransfer();
      const raw = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      dt.items.add(new File([raw], "dropped.png", { type: "image/png" }));
      return dt;
    }, bytes);
    await drop.dispatchEvent("drop", { dataTransfer });
    expect(await drop.textContent()).toContain("dropped.png");
    await form.locator('input[name="width"]').fill("20");
    await form.locator('input[name="height"]').fill("15");
    await form.getByRole("button", { name: "Submit" }).click();
    await w.page.waitForURL(/#\/job\//);
    await w.page.locator('.job-page[data-status="completed"]').waitFor();
    expect(await loadedImageSize(w.page)).toEqual([20, 15]);
    const dropped = decodeURIComponent(w.page.url().split("#/job/")[1]!);
    expect((await api(orch.url, "GET", `/api/job/${dropped}`)).body.parameters.image).toBe(
      "upload:image.png",
    );

    await w.page.goto(`${orch.url}/console/#/submit?workflow=scale_image`);
    await form.locator('[data-field="image"] input[type="file"]').setInputFiles({
      name: "picked.png",
      mimeType: "image/png",
      buffer: Buffer.from(bytes, "base64"),
    });
    await form.locator('input[name="width"]').fill("24");
    await form.getByRole("button", { name: "Submit" }).click();
    await w.page.waitForURL((u) => u.hash.startsWith("#/job/") && !u.hash.includes(dropped));
    await w.page.locator('.job-page[data-status="completed"]').waitFor();
    const picked = decodeURIComponent(w.page.url().split("#/job/")[1]!);
    expect((await api(orch.url, "GET", `/api/job/${picked}`)).body).toMatchObject({
      parameters: { image: "upload:image.png", width: 24 },
      outputs: [{ content_type: "image/png" }],
    });
    await done(w);
  });

  it("shows the server's field error beside the field and stays on the form", async () => {
    const w = await open("#/submit?workflow=scale_image");
    const form = w.page.locator("form.submit-form");
    await form.locator('[data-field="image"]').waitFor();
    await form.getByRole("button", { name: "Submit" }).click();
    const error = form.locator('[data-field="image"] .field-error');
    await error.waitFor();
    expect(await error.textContent()).toContain("required parameter is missing");
    expect(await form.locator('[role="alert"]').textContent()).toContain("PARAMETER_INVALID");
    expect(w.page.url()).toContain("#/submit");
    await done(w, "submit");
  });

  it("shows a failed job's error and the attempt that hit it", async () => {
    fast.setFault({ kind: "execution_error", class_type: "ImageInvert", message: "bad pixels", count: 1 });
    slow.setFault({ kind: "execution_error", class_type: "ImageInvert", message: "bad pixels", count: 1 });
    const id = await submit(orch.url, { workflow_id: "invert_image", parameters: { width: 16, height: 16 } });
    const w = await open(`#/job/${id}`);
    await w.page.locator('.job-page[data-status="failed"]').waitFor();
    const error = await w.page.locator(".job-page > .job-error").textContent();
    expect(error).toContain("EXECUTION_ERROR");
    expect(error).toContain("bad pixels");
    const job = (await api(orch.url, "GET", `/api/job/${id}`)).body;
    expect(await w.page.locator(".attempts tbody tr td").nth(1).textContent()).toBe(job.backend_id);
    await done(w, "job-failed");
  });

  it("cancels a running job from its page", async () => {
    await api(orch.url, "POST", "/api/backends/gpu-fast/drain");
    const id = await submit(orch.url, {
      workflow_id: "txt2img_basic",
      parameters: { prompt: "slow", steps: 150, width: 64, height: 64 },
    });
    const w = await open(`#/job/${id}`);
    await w.page.getByRole("button", { name: "Cancel" }).click();
    await w.page.locator('.job-page[data-status="cancelled"]').waitFor();
    expect((await api(orch.url, "GET", `/api/job/${id}`)).body.status).toBe("cancelled");
    await done(w);
  });
});

describe("jobs page", () => {
  it("filters by status and shows a job submitted meanwhile without a reload", async () => {
    const w = await open("#/jobs");
    await w.page.locator("table.jobs tbody tr").first().waitFor();
    const id = await submit(orch.url, { workflow_id: "invert_image", parameters: { width: 8, height: 8 } });
    // Arrives by the job.queued event and then follows the job to its end.
    await w.page.locator(`tr[data-job="${id}"][data-status="completed"]`).waitFor();
    await done(w, "jobs");

    const failed = await open("#/jobs?status=failed");
    await failed.page.locator("table.jobs tbody tr").first().waitFor();
    const statuses = await failed.page
      .locator("table.jobs tbody tr")
      .evaluateAll((rows) => rows.map((r) => r.getAttribute("data-status")));
    expect(statuses.length).toBeGreaterThan(0);
    expect(new Set(statuses)).toEqual(new Set(["failed"]));
    await done(failed);
  });

  it("pages through a long list 50 rows at a time", async () => {
    await api(orch.url, "POST", "/api/backends/gpu-fast/disable");
    await api(orch.url, "POST", "/api/backends/gpu-slow/disable");
    const ids: string[] = [];
    for (let i = 0; i < 60; i++)
      ids.push(await submit(orch.url, { workflow_id: "invert_image", parameters: { width: 4, height: 4 } }));
    const w = await open("#/jobs?status=queued");
    const rows = w.page.locator("table.jobs tbody tr");
    await rows.nth(49).waitFor();
    expect(await rows.count()).toBe(50);
    expect(await rows.first().getAttribute("data-job")).toBe(ids.at(-1));
    await w.page.getByRole("button", { name: "Older →" }).click();
    await w.page.locator(`tr[data-job="${ids[0]}"]`).waitFor();
    expect(await rows.count()).toBe(10);
    await done(w);
    for (const id of ids) await api(orch.url, "POST", `/api/job/${id}/cancel`);
  });
});

describe("project page", () => {
  it("shows a project's nodes with their states and outputs, and the jobs table lists them", async () => {
    const r = await api(orch.url, "POST", "/api/job", {
      project: {
        nodes: [
          {
            id: "shot1",
            workflow_id: "txt2img_basic",
            parameters: { prompt: "a castle", steps: 3, width: 64, height: 64 },
          },
          {
            id: "shot1_up",
            workflow_id: "scale_image",
            parameters: { image: { from: "shot1" }, width: 96, height: 96 },
          },
          { id: "shot2", workflow_id: "invert_image", parameters: { width: 32, height: 32 } },
        ],
      },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const id = r.body.job_id;
    const w = await open(`#/job/${id}`);
    await w.page.locator('.job-page[data-status="completed"]').waitFor();
    for (const node of ["shot1", "shot1_up", "shot2"])
      await w.page
        .locator(`.project-graph [data-node="${node}"][data-status="completed"] img.output-image`)
        .waitFor();
    const job = (await api(orch.url, "GET", `/api/job/${id}`)).body;
    const boxes = await w.page
      .locator(".project-graph [data-node]")
      .evaluateAll((els) => els.map((e) => e.getAttribute("data-node")));
    expect(boxes.sort()).toEqual(job.nodes.map((n: any) => n.id).sort());
    await done(w, "project");

    const list = await open("#/jobs");
    const chips = list.page.locator(`tr[data-job="${id}"] .chip`);
    await chips.first().waitFor();
    expect(await chips.allTextContents()).toEqual(job.nodes.map((n: any) => n.id));
    await done(list);
  });
});
