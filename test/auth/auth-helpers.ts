// Keys and a keyed Orchestrator for the access-control tests, plus a small /api/ws client.
import WebSocket from "ws";
import { api, untilHealthy } from "../helpers/api.js";
import { type RunningOrchestrator, startOrchestrator, type TestConfig } from "../helpers/orchestrator.js";

export const KEYS = {
  admin: "admin-key-0123456789abcdef",
  alice: "alice-submit-key-0123456789",
  bob: "bob-submit-key-0123456789ab",
  reader: "reader-key-0123456789abcdef",
} as const;

export const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

export function authSection(extra: Record<string, unknown> = {}) {
  return {
    keys: [
      { id: "admin", key: KEYS.admin, role: "admin", name: "Ops" },
      { id: "alice", key: KEYS.alice, role: "submit", name: "StoryboardUI2" },
      { id: "bob", key: KEYS.bob, role: "submit", name: "CPE" },
      { id: "reader", key: KEYS.reader, role: "read" },
    ],
    ...extra,
  };
}

/** An Orchestrator with the four keys above (plus `overrides`), healthy once its backends are online. */
export async function startKeyed(
  c: TestConfig & { auth?: Record<string, unknown> },
): Promise<RunningOrchestrator> {
  const orch = await startOrchestrator({
    ...c,
    overrides: { ...c.overrides, auth: c.auth ?? authSection() },
  });
  if (c.backends.some((b) => b.enabled !== false)) await untilHealthy(orch.url);
  return orch;
}

/** `api()` with a key. */
export const as = (key: string) => (base: string, method: string, path: string, body?: unknown) =>
  api(base, method, path, body, bearer(key));

type Msg = any;

export class WsClient {
  readonly messages: Msg[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters = new Set<() => void>();

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data, isBinary) => {
      if (!isBinary) this.messages.push(JSON.parse(data.toString()));
      for (const w of this.waiters) w();
    });
    this.closed = new Promise((resolve) =>
      ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  /** Resolves once open; rejects with the HTTP status if the upgrade is refused. */
  static open(base: string, headers: Record<string, string> = {}): Promise<WsClient> {
    const ws = new WebSocket(`${base.replace(/^http/, "ws")}/api/ws`, { headers });
    return new Promise((resolve, reject) => {
      ws.once("open", () => resolve(new WsClient(ws)));
      ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      ws.once("error", reject);
    });
  }

  send(msg: unknown): void {
    this.ws.send(JSON.stringify(msg));
  }

  until(pred: (m: Msg) => boolean, what = "message", timeoutMs = 15_000): Promise<Msg> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.messages.find(pred);
        if (hit === undefined) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(hit);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.messages).slice(0, 800)}`),
        );
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  close(): void {
    this.ws.close();
  }
}
