// One WebSocket to GET /api/ws: subscribe to jobs (or all), receive the typed server messages and, when asked
// for, preview frames. Uses the `ws` package on Node (it can send the API key header).
import type { WsClientMessage, WsServerMessage } from "./types.js";

export interface Preview {
  job_id: string;
  content_type: string;
  image: Uint8Array;
}

export interface EventSocketOptions {
  apiKey?: string;
  /** Gives up connecting after this long (default 10 s). */
  timeoutMs?: number;
}

type Listener = (m: WsServerMessage) => void;

interface Socket {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  on(event: "message", cb: (data: Buffer, isBinary: boolean) => void): void;
  on(event: "close", cb: (code: number, reason: Buffer) => void): void;
  on(event: "open", cb: () => void): void;
  on(event: "error", cb: (err: Error) => void): void;
  terminate(): void;
}

export class EventSocket {
  private readonly listeners = new Set<Listener>();
  private readonly previewListeners = new Set<(p: Preview) => void>();
  /** Resolves once the socket has closed, with the server's close code and reason. */
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(private readonly ws: Socket) {
    this.closed = new Promise((resolve) =>
      ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    ws.on("message", (data, isBinary) => {
      if (isBinary) {
        const preview = parsePreview(new Uint8Array(data));
        if (preview) for (const l of this.previewListeners) l(preview);
        return;
      }
      const msg = JSON.parse(data.toString()) as WsServerMessage;
      for (const l of this.listeners) l(msg);
    });
  }

  /** Connects to `${baseUrl}/api/ws`; rejects with the reason when it cannot. */
  static async open(baseUrl: string, o: EventSocketOptions = {}): Promise<EventSocket> {
    const { default: WebSocket } = await import("ws");
    const url = `${baseUrl.replace(/^http/, "ws").replace(/\/$/, "")}/api/ws`;
    const ws = new WebSocket(url, {
      headers: o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {},
      handshakeTimeout: o.timeoutMs ?? 10_000,
    }) as unknown as Socket;
    await new Promise<void>((resolve, reject) => {
      ws.on("open", () => resolve());
      ws.on("error", (err) => reject(err));
    });
    return new EventSocket(ws);
  }

  send(msg: WsClientMessage): void {
    this.ws.send(JSON.stringify(msg));
  }

  subscribe(target: { job_ids: string[] } | { all: true }, previews = false): void {
    this.send({ type: "subscribe", ...target, previews });
  }

  unsubscribe(target: { job_ids: string[] } | { all: true }): void {
    this.send({ type: "unsubscribe", ...target });
  }

  /** Every JSON message: job events (starting with each job's `job.snapshot`), acks and errors. */
  onMessage(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onPreview(listener: (p: Preview) => void): () => void {
    this.previewListeners.add(listener);
    return () => this.previewListeners.delete(listener);
  }

  /** The messages as an async iterator that ends when the socket closes. */
  async *messages(): AsyncGenerator<WsServerMessage> {
    const queue: WsServerMessage[] = [];
    let wake: (() => void) | null = null;
    let done = false;
    const off = this.onMessage((m) => {
      queue.push(m);
      wake?.();
    });
    void this.closed.then(() => {
      done = true;
      wake?.();
    });
    try {
      for (;;) {
        const next = queue.shift();
        if (next) {
          yield next;
          continue;
        }
        if (done) return;
        await new Promise<void>((r) => {
          wake = r;
        });
        wake = null;
      }
    } finally {
      off();
    }
  }

  close(): void {
    this.ws.close(1000, "client closed");
  }
}

/** Binary frame: 4-byte big-endian header length, JSON header, image bytes. */
function parsePreview(bytes: Uint8Array): Preview | null {
  if (bytes.length < 4) return null;
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + n))) as Partial<Preview>;
  if (!header.job_id || !header.content_type) return null;
  return { job_id: header.job_id, content_type: header.content_type, image: bytes.subarray(4 + n) };
}
