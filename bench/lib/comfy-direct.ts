// The minimal ComfyUI client a user without Orchestrator would write: one WebSocket per host, POST /prompt
// with our own prompt id, wait for the end on the socket, then fetch the outputs from /view. It is the
// baseline for overhead, and the round-robin dispatcher's way of talking to hosts.
import { randomUUID } from "node:crypto";
import WebSocket from "ws";
import { drain, postJson } from "./http.js";

export interface FileRef {
  filename: string;
  subfolder: string;
  type: string;
}

export interface PromptResult {
  promptId: string;
  files: FileRef[];
}

interface Waiter {
  files: FileRef[];
  resolve: (r: PromptResult) => void;
  reject: (e: Error) => void;
}

export class DirectComfyClient {
  private ws: WebSocket | null = null;
  private readonly clientId = `bench-${randomUUID()}`;
  private readonly waiting = new Map<string, Waiter>();

  constructor(readonly baseUrl: string) {}

  async connect(timeoutMs = 10_000): Promise<void> {
    const ws = new WebSocket(`${this.baseUrl.replace(/^http/, "ws")}/ws?clientId=${this.clientId}`);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no WebSocket from ${this.baseUrl}`)), timeoutMs);
      ws.once("open", () => {
        clearTimeout(timer);
        resolve();
      });
      ws.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    ws.on("message", (data, isBinary) => {
      if (!isBinary) this.onMessage(String(data));
    });
    ws.on("close", () => {
      for (const w of this.waiting.values()) w.reject(new Error(`WebSocket to ${this.baseUrl} closed`));
      this.waiting.clear();
    });
    this.ws = ws;
  }

  /** Queues a graph and resolves when the host reports its end (outputs named, not yet downloaded). */
  run(graph: unknown): Promise<PromptResult> {
    // Our own prompt id: the waiter exists before the host can announce anything about the prompt.
    const promptId = randomUUID();
    const done = new Promise<PromptResult>((resolve, reject) => {
      this.waiting.set(promptId, { files: [], resolve, reject });
    });
    postJson<{ prompt_id?: string; error?: unknown }>(`${this.baseUrl}/prompt`, {
      prompt: graph,
      client_id: this.clientId,
      prompt_id: promptId,
    }).then(
      (r) => {
        if (r.status !== 200)
          this.settle(
            promptId,
            new Error(`POST /prompt: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`),
          );
      },
      (e: Error) => this.settle(promptId, e),
    );
    return done;
  }

  viewUrl(ref: FileRef): string {
    const q = new URLSearchParams({ filename: ref.filename, subfolder: ref.subfolder, type: ref.type });
    return `${this.baseUrl}/view?${q}`;
  }

  /** Downloads every output of a prompt; returns the byte count. */
  async fetchOutputs(r: PromptResult): Promise<number> {
    let bytes = 0;
    for (const f of r.files) bytes += (await drain(this.viewUrl(f))).bytes;
    return bytes;
  }

  close(): void {
    this.ws?.close();
    this.ws = null;
  }

  private onMessage(text: string): void {
    let msg: { type?: string; data?: Record<string, unknown> };
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    const d = msg.data ?? {};
    const id = typeof d.prompt_id === "string" ? d.prompt_id : null;
    if (!id) return;
    const w = this.waiting.get(id);
    if (!w) return;
    switch (msg.type) {
      case "executed":
        w.files.push(...refsOf(d.output));
        break;
      case "execution_success":
        this.settle(id);
        break;
      case "executing":
        // Older hosts end a prompt with `executing` node null only.
        if (d.node === null) this.settle(id);
        break;
      case "execution_error":
        this.settle(id, new Error(`execution_error: ${String(d.exception_message ?? "")}`));
        break;
      case "execution_interrupted":
        this.settle(id, new Error("execution_interrupted"));
        break;
    }
  }

  private settle(promptId: string, err?: Error): void {
    const w = this.waiting.get(promptId);
    if (!w) return;
    this.waiting.delete(promptId);
    if (err) w.reject(err);
    else w.resolve({ promptId, files: w.files });
  }
}

function refsOf(output: unknown): FileRef[] {
  const refs: FileRef[] = [];
  if (!output || typeof output !== "object") return refs;
  for (const value of Object.values(output)) {
    if (!Array.isArray(value)) continue;
    for (const item of value) {
      if (item && typeof item === "object" && typeof item.filename === "string") {
        refs.push({
          filename: item.filename,
          subfolder: String(item.subfolder ?? ""),
          type: String(item.type ?? "output"),
        });
      }
    }
  }
  return refs;
}
