// Test-side helpers for talking to a simulator the way a ComfyUI client does: JSON over fetch and a recording
// /ws client whose messages can be awaited instead of slept for.
import { randomUUID } from "node:crypto";
import WebSocket from "ws";
import type { Graph } from "./node-types.js";

export type WsMessage =
  | { kind: "json"; type: string; data: Record<string, unknown> }
  | { kind: "binary"; bytes: Buffer };

export class WsRecorder {
  readonly messages: WsMessage[] = [];
  private waiters: Array<() => void> = [];
  closed = false;

  constructor(
    readonly ws: WebSocket,
    readonly clientId: string,
  ) {
    ws.on("message", (data, isBinary) => {
      const buf = Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer);
      if (isBinary) this.messages.push({ kind: "binary", bytes: buf });
      else {
        const msg = JSON.parse(buf.toString("utf8")) as { type: string; data: Record<string, unknown> };
        this.messages.push({ kind: "json", type: msg.type, data: msg.data });
      }
      this.notify();
    });
    ws.on("close", () => {
      this.closed = true;
      this.notify();
    });
    ws.on("error", () => {});
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** JSON events only, as {type, data}. */
  events(): Array<{ type: string; data: Record<string, unknown> }> {
    return this.messages.flatMap((m) => (m.kind === "json" ? [{ type: m.type, data: m.data }] : []));
  }

  /** Resolves with the first message (already received or future) that matches. */
  async waitFor(pred: (m: WsMessage) => boolean, timeoutMs = 15_000): Promise<WsMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(pred);
      if (found) return found;
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for a ws message (${this.messages.length} seen)`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()) + 1);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  waitForEvent(type: string, pred: (data: Record<string, unknown>) => boolean = () => true) {
    return this.waitFor((m) => m.kind === "json" && m.type === type && pred(m.data)) as Promise<
      Extract<WsMessage, { kind: "json" }>
    >;
  }

  /** Waits for ComfyUI's final signal for a prompt: executing with node null. */
  waitForDone(promptId: string) {
    return this.waitForEvent("executing", (d) => d.node === null && d.prompt_id === promptId);
  }

  async waitClosed(timeoutMs = 15_000): Promise<void> {
    await this.waitFor(() => this.closed, timeoutMs).catch(() => {
      if (!this.closed) throw new Error("socket did not close");
    });
  }

  close(): void {
    this.ws.terminate();
  }
}

export async function connectWs(
  baseUrl: string,
  clientId: string | null = randomUUID(),
): Promise<WsRecorder> {
  const query = clientId === null ? "" : `?clientId=${encodeURIComponent(clientId)}`;
  const ws = new WebSocket(`${baseUrl.replace(/^http/, "ws")}/ws${query}`);
  const rec = new WsRecorder(ws, clientId ?? "");
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  return rec;
}

/** Test code pokes into responses freely, so bodies are loosely typed. */
type Json = any;

export async function getJson(baseUrl: string, path: string): Promise<{ status: number; body: Json }> {
  const res = await fetch(baseUrl + path);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

export async function postJson(
  baseUrl: string,
  path: string,
  payload: unknown,
): Promise<{ status: number; body: Json }> {
  const res = await fetch(baseUrl + path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(payload),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON (an empty 200, an aiohttp error page)
  }
  return { status: res.status, body };
}

/** POST /prompt and return the prompt id, failing loudly on a 400. */
export async function queuePrompt(
  baseUrl: string,
  graph: Graph,
  clientId?: string,
  extra: Record<string, unknown> = {},
) {
  const r = await postJson(baseUrl, "/prompt", { prompt: graph, client_id: clientId, ...extra });
  if (r.status !== 200) throw new Error(`prompt rejected: ${JSON.stringify(r.body)}`);
  return r.body as { prompt_id: string; number: number; node_errors: Record<string, unknown> };
}
