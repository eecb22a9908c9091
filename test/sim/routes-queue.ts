// /prompt, /queue, /interrupt, /free and /history, answering as server.py does (POST routes that only act
// reply 200 with an empty body).
import type { SimRuntime } from "./host-process.js";
import { readJson, readJsonOr, sendJson, sendStatus } from "./http-io.js";
import { submitPrompt } from "./prompt-submit.js";
import { pyInt } from "./python-compat.js";
import { type Route, route } from "./router.js";

function asObject(v: unknown): Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function idList(v: unknown): string[] {
  return Array.isArray(v) ? v.map((x) => String(x)) : [];
}

export function queueRoutes(rt: SimRuntime): Route[] {
  return [
    route("GET", "/prompt", (_req, res) => sendJson(res, 200, rt.process().queueInfo())),

    route("POST", "/prompt", async (req, res) => {
      const json = await readJson(req);
      const { status, body } = submitPrompt(rt, rt.process(), json);
      if (status === 200) rt.stats.promptsReceived++;
      sendJson(res, status, body);
    }),

    route("GET", "/queue", (_req, res) => {
      const { running, pending } = rt.process().queue.current();
      sendJson(res, 200, { queue_running: running, queue_pending: pending });
    }),

    route("POST", "/queue", async (req, res) => {
      const body = asObject(await readJson(req));
      const queue = rt.process().queue;
      if ("clear" in body && body.clear) queue.wipe();
      if ("delete" in body) for (const id of idList(body.delete)) queue.delete(id);
      sendStatus(res, 200);
    }),

    route("POST", "/interrupt", async (req, res) => {
      const body = asObject(await readJsonOr(req, {}));
      rt.stats.interrupts++;
      // Newer hosts interrupt only the named prompt, and only if it is the running one.
      const promptId = body.prompt_id;
      rt.process().executor.interrupt(promptId ? String(promptId) : undefined);
      sendStatus(res, 200);
    }),

    route("POST", "/free", async (req, res) => {
      const body = asObject(await readJson(req));
      // free_memory resets the executor, caches included (applied before the next prompt in ComfyUI).
      // Either flag unloads models: ComfyUI when its worker is next idle, the simulator at once; it drops the
      // cached loader outputs too, so the next prompt's loader runs and pays the load (see README).
      if (body.free_memory === true || body.unload_models === true) {
        rt.process().cache.clear();
        rt.unloadModels();
      }
      sendStatus(res, 200);
    }),

    route("GET", "/history", (_req, res, url) => {
      const max = url.searchParams.get("max_items");
      const offset = url.searchParams.get("offset");
      const history = rt
        .process()
        .queue.getHistory(
          undefined,
          max === null ? undefined : pyInt(max),
          offset === null ? -1 : pyInt(offset),
        );
      sendJson(res, 200, history);
    }),

    route("GET", "/history/{prompt_id}", (_req, res, _url, [promptId]) => {
      sendJson(res, 200, rt.process().queue.getHistory(promptId ?? ""));
    }),

    route("POST", "/history", async (req, res) => {
      const body = asObject(await readJson(req));
      const queue = rt.process().queue;
      if ("clear" in body && body.clear) queue.wipeHistory();
      if ("delete" in body) for (const id of idList(body.delete)) queue.deleteHistory(id);
      sendStatus(res, 200);
    }),
  ];
}
