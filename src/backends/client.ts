// Talks to one ComfyUI host: HTTP over a keep-alive undici pool, events over ws. Every call has a timeout
// and takes an AbortSignal, so a hung host can never hang a job.
import type { Readable } from "node:stream";
import { Pool, errors as undiciErrors } from "undici";
import WebSocket from "ws";
import type { ApiGraph } from "../core/models.js";
import {
  type FileRef,
  type HistoryEntry,
  HistoryEntrySchema,
  type QueueItem,
  QueueSchema,
  type SystemStats,
  SystemStatsSchema,
  toQueueItem,
} from "./protocol.js";

export type BackendErrorKind = "unreachable" | "timeout" | "http" | "rejected" | "protocol";

/** A failed call to a host. `rejected` is a 400 from /prompt: the graph's fault, not the host's. */
export class BackendError extends Error {
  constructor(
    readonly kind: BackendErrorKind,
    message: string,
    readonly status: number | null = null,
    readonly body: unknown = null,
  ) {
    super(message);
    this.name = "BackendError";
  }
}

export interface ClientOptions {
  baseUrl: string;
  requestTimeoutMs: number;
  transferTimeoutMs: number;
  /** Sent on every HTTP call and on the WebSocket upgrade (credentials for a proxy in front of the host). */
  headers?: Record<string, string>;
}

export interface QueuePromptOptions {
  clientId: string;
  promptId?: string;
  extraData?: Record<string, unknown>;
  front?: boolean;
}

export class ComfyUIClient {
  private readonly pool: Pool;

  constructor(readonly opts: ClientOptions) {
    this.pool = new Pool(opts.baseUrl, { connections: 8, keepAliveTimeout: 10_000 });
  }

  get baseUrl(): string {
    return this.opts.baseUrl;
  }

  async queuePrompt(
    graph: ApiGraph,
    o: QueuePromptOptions,
    signal?: AbortSignal,
  ): Promise<{ prompt_id: string; number: number }> {
    const body: Record<string, unknown> = {
      prompt: graph,
      client_id: o.clientId,
      extra_data: o.extraData ?? {},
    };
    if (o.promptId) body.prompt_id = o.promptId;
    if (o.front) body.front = true;
    const res = await this.call("POST", "/prompt", { json: body, signal, okStatuses: [200, 400] });
    if (res.status === 400) {
      throw new BackendError("rejected", describeRejection(res.body), 400, res.body);
    }
    const r = res.body as { prompt_id?: unknown; number?: unknown };
    if (typeof r.prompt_id !== "string")
      throw new BackendError("protocol", "POST /prompt answered without prompt_id");
    return { prompt_id: r.prompt_id, number: typeof r.number === "number" ? r.number : 0 };
  }

  /** The prompt's history entry, or null while the host does not know it or it has not finished. */
  async history(promptId: string, signal?: AbortSignal): Promise<HistoryEntry | null> {
    const res = await this.call("GET", `/history/${encodeURIComponent(promptId)}`, { signal });
    const entry = (res.body as Record<string, unknown>)?.[promptId];
    if (!entry) return null;
    const parsed = HistoryEntrySchema.safeParse(entry);
    if (!parsed.success)
      throw new BackendError("protocol", `unexpected /history shape: ${parsed.error.message}`);
    return parsed.data;
  }

  /** The last `maxItems` finished prompts, oldest first, as queue items (they carry their graphs). */
  async recentHistory(maxItems: number, signal?: AbortSignal): Promise<QueueItem[]> {
    const res = await this.call("GET", `/history?max_items=${maxItems}`, { signal });
    const body = res.body && typeof res.body === "object" ? (res.body as Record<string, unknown>) : {};
    return Object.values(body)
      .map((e) => (e as { prompt?: unknown })?.prompt)
      .filter((p): p is unknown[] => Array.isArray(p))
      .map(toQueueItem)
      .filter((i): i is QueueItem => i !== null);
  }

  async queue(signal?: AbortSignal): Promise<{ running: QueueItem[]; pending: QueueItem[] }> {
    const res = await this.call("GET", "/queue", { signal });
    const q = QueueSchema.safeParse(res.body);
    if (!q.success) throw new BackendError("protocol", "unexpected /queue shape");
    const items = (list: unknown[][]) => list.map(toQueueItem).filter((i): i is QueueItem => i !== null);
    return { running: items(q.data.queue_running), pending: items(q.data.queue_pending) };
  }

  async deleteFromQueue(promptIds: string[], signal?: AbortSignal): Promise<void> {
    await this.call("POST", "/queue", { json: { delete: promptIds }, signal });
  }

  /** Interrupts only `promptId` on newer hosts; callers check /queue first that it is ours and running. */
  async interrupt(promptId: string, signal?: AbortSignal): Promise<void> {
    await this.call("POST", "/interrupt", { json: { prompt_id: promptId }, signal });
  }

  /**
   * Takes one of our prompts off a shared host: deleted if still pending, interrupted (by prompt id) only
   * if /queue shows it is the one running, so another client's prompt is never touched.
   */
  async removePrompt(promptId: string, signal?: AbortSignal): Promise<"deleted" | "interrupted" | "absent"> {
    const q = await this.queue(signal);
    if (q.pending.some((i) => i.prompt_id === promptId)) {
      await this.deleteFromQueue([promptId], signal);
      return "deleted";
    }
    if (q.running.some((i) => i.prompt_id === promptId)) {
      await this.interrupt(promptId, signal);
      return "interrupted";
    }
    return "absent";
  }

  async systemStats(signal?: AbortSignal): Promise<SystemStats> {
    const res = await this.call("GET", "/system_stats", { signal });
    const s = SystemStatsSchema.safeParse(res.body);
    if (!s.success) throw new BackendError("protocol", "unexpected /system_stats shape");
    return s.data;
  }

  async objectInfo(signal?: AbortSignal): Promise<Record<string, unknown>> {
    const res = await this.call("GET", "/object_info", { signal, timeoutMs: this.opts.transferTimeoutMs });
    if (!res.body || typeof res.body !== "object")
      throw new BackendError("protocol", "unexpected /object_info");
    return res.body as Record<string, unknown>;
  }

  async uploadImage(
    bytes: Buffer,
    filename: string,
    contentType: string,
    o: { subfolder?: string; overwrite?: boolean } = {},
    signal?: AbortSignal,
  ): Promise<FileRef> {
    const form = new FormData();
    form.set("image", new Blob([bytes], { type: contentType }), filename);
    form.set("type", "input");
    if (o.subfolder) form.set("subfolder", o.subfolder);
    if (o.overwrite) form.set("overwrite", "true");
    const res = await this.call("POST", "/upload/image", {
      form,
      signal,
      timeoutMs: this.opts.transferTimeoutMs,
    });
    const r = res.body as { name?: unknown; subfolder?: unknown; type?: unknown };
    if (typeof r.name !== "string") throw new BackendError("protocol", "upload answered without a name");
    return { filename: r.name, subfolder: typeof r.subfolder === "string" ? r.subfolder : "", type: "input" };
  }

  /** Streams a file from /view; the caller must consume or destroy the body. */
  async view(ref: FileRef, signal?: AbortSignal): Promise<{ body: Readable; contentType: string | null }> {
    const qs = new URLSearchParams({ filename: ref.filename, subfolder: ref.subfolder, type: ref.type });
    const { signal: s, done } = withTimeout(this.opts.transferTimeoutMs, signal);
    try {
      const res = await this.pool.request({
        method: "GET",
        path: `/view?${qs}`,
        headers: this.opts.headers,
        signal: s,
        headersTimeout: this.opts.requestTimeoutMs,
      });
      if (res.statusCode !== 200) {
        await res.body.dump();
        done();
        throw new BackendError("http", `GET /view ${ref.filename} → ${res.statusCode}`, res.statusCode);
      }
      res.body.once("close", done);
      const ct = res.headers["content-type"];
      return { body: res.body, contentType: typeof ct === "string" ? ct : null };
    } catch (err) {
      done();
      throw toBackendError(err, "GET /view");
    }
  }

  /** Opens the event socket; resolves once connected (or rejects within the request timeout). */
  openSocket(clientId: string): Promise<WebSocket> {
    const url = `${this.opts.baseUrl.replace(/^http/, "ws")}/ws?clientId=${encodeURIComponent(clientId)}`;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, {
        handshakeTimeout: this.opts.requestTimeoutMs,
        perMessageDeflate: false,
        headers: this.opts.headers,
      });
      const fail = (err: Error) => {
        ws.removeAllListeners();
        ws.on("error", () => {});
        ws.terminate();
        reject(toBackendError(err, "WS /ws"));
      };
      ws.once("open", () => {
        ws.off("error", fail);
        resolve(ws);
      });
      ws.once("error", fail);
      ws.once("unexpected-response", (_req, res) =>
        fail(new BackendError("http", `WS /ws → ${res.statusCode}`, res.statusCode ?? null)),
      );
    });
  }

  async close(): Promise<void> {
    await this.pool.close().catch(() => {});
  }

  private async call(
    method: "GET" | "POST",
    path: string,
    o: {
      json?: unknown;
      form?: FormData;
      signal?: AbortSignal;
      timeoutMs?: number;
      okStatuses?: number[];
    } = {},
  ): Promise<{ status: number; body: unknown }> {
    const { signal, done } = withTimeout(o.timeoutMs ?? this.opts.requestTimeoutMs, o.signal);
    const what = `${method} ${path}`;
    try {
      let body: string | Buffer | undefined;
      const headers: Record<string, string> = { ...this.opts.headers };
      if (o.json !== undefined) {
        body = JSON.stringify(o.json);
        headers["content-type"] = "application/json";
      } else if (o.form) {
        const req = new Request("http://form.invalid/", { method: "POST", body: o.form });
        headers["content-type"] = req.headers.get("content-type")!;
        body = Buffer.from(await req.arrayBuffer());
      }
      const res = await this.pool.request({ method, path, body, headers, signal });
      const text = await res.body.text();
      const ok = o.okStatuses ?? [200];
      if (!ok.includes(res.statusCode)) {
        throw new BackendError(
          "http",
          `${what} → ${res.statusCode}: ${text.slice(0, 200)}`,
          res.statusCode,
          text,
        );
      }
      try {
        return { status: res.statusCode, body: text ? JSON.parse(text) : {} };
      } catch {
        throw new BackendError(
          "protocol",
          `${what} answered non-JSON: ${text.slice(0, 100)}`,
          res.statusCode,
        );
      }
    } catch (err) {
      throw toBackendError(err, what);
    } finally {
      done();
    }
  }
}

/** One signal that fires on the caller's abort or after `ms`, and a cleanup for the timer. */
function withTimeout(ms: number, outer?: AbortSignal): { signal: AbortSignal; done: () => void } {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(new BackendError("timeout", `no answer within ${ms} ms`)), ms);
  const onAbort = () => ctl.abort(outer?.reason);
  if (outer?.aborted) ctl.abort(outer.reason);
  else outer?.addEventListener("abort", onAbort, { once: true });
  return {
    signal: ctl.signal,
    done: () => {
      clearTimeout(timer);
      outer?.removeEventListener("abort", onAbort);
    },
  };
}

function toBackendError(err: unknown, what: string): Error {
  if (err instanceof BackendError) return err;
  const e = err as Error & { code?: string; cause?: unknown };
  if (e?.name === "AbortError" || e instanceof undiciErrors.RequestAbortedError) {
    const reason = e.cause;
    if (reason instanceof BackendError) return new BackendError(reason.kind, `${what}: ${reason.message}`);
    return e; // the caller cancelled: not the host's fault
  }
  if (e instanceof undiciErrors.HeadersTimeoutError || e instanceof undiciErrors.BodyTimeoutError) {
    return new BackendError("timeout", `${what}: ${e.message}`);
  }
  return new BackendError("unreachable", `${what}: ${e?.code ?? ""} ${e?.message ?? String(err)}`.trim());
}

function describeRejection(body: unknown): string {
  const b = body as {
    error?: unknown;
    node_errors?: Record<string, { class_type?: string; errors?: { message?: string; details?: string }[] }>;
  };
  const head =
    typeof b?.error === "string"
      ? b.error
      : ((b?.error as { message?: string })?.message ?? "prompt rejected");
  const nodes = Object.entries(b?.node_errors ?? {}).map(([id, ne]) => {
    const first = ne.errors?.[0];
    return `node ${id} (${ne.class_type ?? "?"}): ${first?.message ?? ""}${first?.details ? ` — ${first.details}` : ""}`;
  });
  return [head, ...nodes].join("; ");
}
