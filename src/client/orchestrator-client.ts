// The typed client of the Orchestrator API: one method per operation, the server's errors as
// OrchestratorError, every request bounded by a timeout and cancellable with an AbortSignal.
import { ConnectionError, OrchestratorError } from "./errors.js";
import { EventSocket } from "./event-socket.js";
import { readSse } from "./sse.js";
import type {
  Backend,
  BackendAction,
  BackendList,
  Health,
  JobEvent,
  JobList,
  JobOutput,
  JobStatus,
  JobView,
  Manifest,
  SubmitAccepted,
  WorkflowDetail,
  WorkflowList,
} from "./types.js";

export interface ClientOptions {
  /** e.g. http://localhost:8080 */
  baseUrl: string;
  /** Sent as `Authorization: Bearer KEY` when the server has access control. */
  apiKey?: string;
  /** Per request (default 30 s); long waits and streams set their own. */
  timeoutMs?: number;
  /** A fetch implementation to use instead of the global one (a proxy agent, a test's recorder). */
  fetch?: typeof fetch;
}

/** An image for a multipart submit: bytes (with an optional filename) for one image parameter. */
export type ImageInput = Blob | Uint8Array | { bytes: Uint8Array | Blob; filename?: string };

export interface SubmitOptions {
  /** Hold the request until the job ends, up to this many seconds (server-capped). */
  waitS?: number;
  idempotencyKey?: string;
  /** Image parameters sent as multipart file parts, by parameter name. */
  images?: Record<string, ImageInput>;
  signal?: AbortSignal;
}

export interface WaitOptions {
  /** Gives up (rejects with a ConnectionError "timeout") after this long; default: no limit. */
  timeoutMs?: number;
  /** Every event of the job as it happens (starting with its snapshot). */
  onEvent?: (e: JobEvent) => void;
  signal?: AbortSignal;
}

const TERMINAL: ReadonlySet<string> = new Set(["completed", "failed", "cancelled"]);
export const isTerminalStatus = (s: JobStatus) => TERMINAL.has(s);

export class OrchestratorClient {
  readonly baseUrl: string;

  constructor(private readonly o: ClientOptions) {
    this.baseUrl = o.baseUrl.replace(/\/$/, "");
  }

  /** Submits a job; answers at once (`SubmitAccepted`) or, with `waitS`, with the job once it ended. */
  async submit(manifest: Manifest, o: SubmitOptions = {}): Promise<SubmitAccepted | JobView> {
    const query = o.waitS ? `?wait=${o.waitS}` : "";
    const headers: Record<string, string> = o.idempotencyKey ? { "idempotency-key": o.idempotencyKey } : {};
    let body: RequestInit["body"];
    if (o.images && Object.keys(o.images).length > 0) {
      const form = new FormData();
      form.set("manifest", JSON.stringify(manifest));
      for (const [name, img] of Object.entries(o.images)) {
        const { blob, filename } = toBlob(img, name);
        form.set(name, blob, filename);
      }
      body = form;
    } else {
      body = JSON.stringify(manifest);
      headers["content-type"] = "application/json";
    }
    const timeoutMs = o.waitS ? o.waitS * 1000 + this.timeout() : undefined;
    return this.json("POST", `/api/job${query}`, { body, headers, signal: o.signal, timeoutMs });
  }

  get(id: string, o: { graph?: boolean; signal?: AbortSignal } = {}): Promise<JobView> {
    return this.json("GET", `/api/job/${enc(id)}${o.graph ? "?include=graph" : ""}`, { signal: o.signal });
  }

  list(
    q: { status?: JobStatus[]; workflow_id?: string; limit?: number; cursor?: string } = {},
  ): Promise<JobList> {
    const p = new URLSearchParams();
    if (q.status?.length) p.set("status", q.status.join(","));
    if (q.workflow_id) p.set("workflow_id", q.workflow_id);
    if (q.limit) p.set("limit", String(q.limit));
    if (q.cursor) p.set("cursor", q.cursor);
    const qs = p.size ? `?${p}` : "";
    return this.json("GET", `/api/jobs${qs}`);
  }

  cancel(id: string): Promise<JobView> {
    return this.json("DELETE", `/api/job/${enc(id)}`);
  }

  /** Follows the job's events (SSE) until it ends, then returns its final state. */
  async wait(id: string, o: WaitOptions = {}): Promise<JobView> {
    const signal = o.timeoutMs ? anySignal(o.signal, AbortSignal.timeout(o.timeoutMs)) : o.signal;
    for (let attempt = 0; ; attempt++) {
      try {
        for await (const e of this.events(id, { signal })) {
          o.onEvent?.(e);
          if (e.type === "job.snapshot" ? isTerminalStatus(e.job.status) : isTerminalType(e.type)) break;
        }
      } catch (err) {
        // A dropped stream is retried below; a rejection from the server (404...) is final.
        if (err instanceof OrchestratorError || signal?.aborted)
          throw rethrowAbort(err, signal, this.baseUrl);
      }
      const job = await this.get(id, { signal });
      if (isTerminalStatus(job.status)) return job;
      await sleep(Math.min(2000, 100 * 2 ** attempt), signal);
    }
  }

  /** One job's events over Server-Sent Events: its snapshot, then its events, ending after the last. */
  async *events(id: string, o: { signal?: AbortSignal } = {}): AsyncGenerator<JobEvent> {
    const res = await this.request("GET", `/api/job/${enc(id)}/events`, {
      signal: o.signal,
      headers: { accept: "text/event-stream" },
      stream: true,
    });
    if (res.status === 204 || !res.body) return;
    for await (const frame of readSse(res.body)) yield JSON.parse(frame.data) as JobEvent;
  }

  /** A WebSocket to /api/ws for following many jobs (or all) at once; see EventSocket. */
  socket(): Promise<EventSocket> {
    return EventSocket.open(this.baseUrl, { apiKey: this.o.apiKey, timeoutMs: this.timeout() });
  }

  /** Fetches one output (a job's `outputs[]` entry, or job id + filename) into memory. */
  async download(
    output: Pick<JobOutput, "url"> | { job_id: string; filename: string },
    o: { signal?: AbortSignal } = {},
  ): Promise<{ bytes: Uint8Array; contentType: string }> {
    const url =
      "url" in output ? output.url : `/api/job/${enc(output.job_id)}/outputs/${enc(output.filename)}`;
    const res = await this.request("GET", url, { signal: o.signal, stream: true });
    try {
      return {
        bytes: new Uint8Array(await res.arrayBuffer()),
        contentType: res.headers.get("content-type") ?? "application/octet-stream",
      };
    } catch (err) {
      throw new ConnectionError(url, `download failed: ${(err as Error).message}`, { cause: err });
    }
  }

  workflows(): Promise<WorkflowList> {
    return this.json("GET", "/api/workflows");
  }

  workflow(id: string): Promise<WorkflowDetail> {
    return this.json("GET", `/api/workflows/${enc(id)}`);
  }

  backends(): Promise<BackendList> {
    return this.json("GET", "/api/backends");
  }

  backendAction(id: string, action: BackendAction): Promise<Backend> {
    return this.json("POST", `/api/backends/${enc(id)}/${action}`);
  }

  health(): Promise<Health> {
    return this.json("GET", "/api/health", { okStatuses: [503] });
  }

  private timeout(): number {
    return this.o.timeoutMs ?? 30_000;
  }

  private async json<T>(
    method: string,
    path: string,
    o: RequestOptions & { okStatuses?: number[] } = {},
  ): Promise<T> {
    const res = await this.request(method, path, o);
    try {
      return (await res.json()) as T;
    } catch (err) {
      throw new ConnectionError(res.url, `unreadable answer: ${(err as Error).message}`, { cause: err });
    }
  }

  /** One HTTP request; error statuses become OrchestratorError, network failures ConnectionError. */
  private async request(method: string, path: string, o: RequestOptions & { okStatuses?: number[] } = {}) {
    const url = /^https?:\/\//.test(path) ? path : `${this.baseUrl}${path}`;
    // Streams (SSE, downloads) time out only while connecting; after that the caller's signal ends them.
    const ctrl = new AbortController();
    const timer = setTimeout(
      () => ctrl.abort(new DOMException("timed out", "TimeoutError")),
      o.timeoutMs ?? this.timeout(),
    );
    const signal = anySignal(o.signal, ctrl.signal);
    const headers = { ...o.headers, ...(this.o.apiKey ? { authorization: `Bearer ${this.o.apiKey}` } : {}) };
    let res: Response;
    try {
      res = await (this.o.fetch ?? fetch)(url, { method, headers, body: o.body, signal });
    } catch (err) {
      clearTimeout(timer);
      throw rethrowAbort(err, signal, this.baseUrl, url);
    }
    // A plain request's timer keeps bounding the body read; unref'd, it never holds the process open.
    if (o.stream) clearTimeout(timer);
    else timer.unref?.();
    if (res.status >= 400 && !o.okStatuses?.includes(res.status)) throw await toError(res);
    return res;
  }
}

interface RequestOptions {
  body?: RequestInit["body"];
  headers?: Record<string, string>;
  signal?: AbortSignal;
  timeoutMs?: number;
  stream?: boolean;
}

const enc = encodeURIComponent;
const isTerminalType = (t: string) => t === "job.completed" || t === "job.failed" || t === "job.cancelled";

function toBlob(img: ImageInput, name: string): { blob: Blob; filename: string } {
  if (img instanceof Blob) return { blob: img, filename: name };
  if (img instanceof Uint8Array) return { blob: new Blob([img]), filename: name };
  const blob = img.bytes instanceof Blob ? img.bytes : new Blob([img.bytes]);
  return { blob, filename: img.filename ?? name };
}

async function toError(res: Response): Promise<OrchestratorError> {
  const text = await res.text().catch(() => "");
  try {
    const { error } = JSON.parse(text) as { error: { code: string; message: string; details?: object } };
    return new OrchestratorError(res.status, error.code, error.message, (error.details ?? {}) as never);
  } catch {
    return new OrchestratorError(res.status, `HTTP_${res.status}`, text.slice(0, 200) || res.statusText);
  }
}

function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal {
  return AbortSignal.any(signals.filter((s): s is AbortSignal => s !== undefined));
}

function rethrowAbort(err: unknown, signal: AbortSignal | undefined, base: string, url = base): Error {
  if (err instanceof OrchestratorError) return err;
  const reason = signal?.aborted ? (signal.reason as Error | undefined) : undefined;
  if (reason?.name === "TimeoutError") return new ConnectionError(url, `timed out talking to ${base}`);
  if (reason) return reason;
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return new ConnectionError(url, `cannot reach ${base}: ${cause?.code ?? cause?.message ?? String(err)}`, {
    cause: err,
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      reject(signal.reason);
    });
  });
}
