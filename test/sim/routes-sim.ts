// The simulator's own control routes under /_sim (never affected by faults): arm and clear faults, set free
// VRAM, queue foreign prompts, crash (and come back), read stats. They let a test in another process steer a CLI-started simulator.

import { parseFault } from "./faults.js";
import type { SimRuntime } from "./host-process.js";
import { readJson, sendJson } from "./http-io.js";
import { type Route, route } from "./router.js";

function field(body: unknown, name: string): unknown {
  return typeof body === "object" && body !== null ? (body as Record<string, unknown>)[name] : undefined;
}

export function simRoutes(rt: SimRuntime): Route[] {
  return [
    route("POST", "/_sim/fault", async (req, res) => {
      const fault = parseFault(await readJson(req));
      if (typeof fault === "string") return sendJson(res, 400, { error: fault });
      // Refusing connections closes this very socket, so that fault waits until the answer is out.
      if (fault.kind === "refuse_connections") {
        res.setHeader("Connection", "close");
        res.on("finish", () => rt.setFault(fault));
      } else rt.setFault(fault);
      sendJson(res, 200, { ok: true });
    }),

    route("POST", "/_sim/reset", (_req, res) => {
      rt.clearFaults();
      sendJson(res, 200, { ok: true });
    }),

    route("POST", "/_sim/vram", async (req, res) => {
      const free = field(await readJson(req), "free_bytes");
      if (typeof free !== "number" || free < 0)
        return sendJson(res, 400, { error: "free_bytes must be a number >= 0" });
      rt.setVramFree(free);
      sendJson(res, 200, { ok: true });
    }),

    route("POST", "/_sim/foreign", async (req, res) => {
      const body = await readJson(req);
      const count = field(body, "count");
      const steps = field(body, "steps");
      if (typeof count !== "number" || count < 0)
        return sendJson(res, 400, { error: "count must be a number >= 0" });
      rt.addForeignPrompts(count, typeof steps === "number" ? steps : undefined);
      sendJson(res, 200, { ok: true });
    }),

    route("POST", "/_sim/crash", async (req, res) => {
      const after = field(await readJson(req), "restart_after_ms");
      const ms = typeof after === "number" && after >= 0 ? after : 100;
      // The client must not pool a connection the crash is about to cut.
      res.setHeader("Connection", "close");
      res.on("finish", () => rt.crashThenRestart(ms));
      sendJson(res, 200, { ok: true, restart_after_ms: ms });
    }),

    route("GET", "/_sim/stats", (_req, res) => sendJson(res, 200, rt.stats)),
  ];
}
