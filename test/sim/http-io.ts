// Reading requests and writing responses the way aiohttp does: JSON with Python's layout and content type,
// bare status responses with empty bodies, and aiohttp's plain-text error pages.
import type { IncomingMessage, ServerResponse } from "node:http";
import { pyDumps } from "./python-compat.js";

export const SERVER_HEADER = "Python/3.12 aiohttp/3.11.18";

/** aiohttp's default client_max_size as ComfyUI sets it (--max-upload-size 100 MB). */
export const MAX_BODY_BYTES = 100 * 1024 * 1024;

export class BodyTooLarge extends Error {}

export async function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new BodyTooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** request.json(): throws on invalid JSON, which aiohttp turns into a 500. */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  return JSON.parse((await readBody(req)).toString("utf8"));
}

/** For routes that tolerate a missing or broken body (POST /interrupt). */
export async function readJsonOr<T>(req: IncomingMessage, fallback: T): Promise<unknown> {
  try {
    return await readJson(req);
  } catch {
    return fallback;
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = Buffer.from(pyDumps(body), "utf8");
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": text.length,
    Server: SERVER_HEADER,
  });
  res.end(text);
}

/** web.Response(status=N): no body at all. */
export function sendStatus(res: ServerResponse, status: number): void {
  res.writeHead(status, {
    "Content-Type": "application/octet-stream",
    "Content-Length": 0,
    Server: SERVER_HEADER,
  });
  res.end();
}

const REASONS: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  413: "Request Entity Too Large",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** aiohttp's text error page for unmatched routes, oversized bodies and unhandled exceptions. */
export function sendErrorPage(res: ServerResponse, status: number): void {
  const reason = REASONS[status] ?? "Error";
  const text =
    status === 500 ? "500 Internal Server Error\n\nServer got itself in trouble" : `${status}: ${reason}`;
  res.writeHead(status, {
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
    Server: SERVER_HEADER,
  });
  res.end(text);
}

/** The raw status line for refusing a WebSocket upgrade on a bare socket. */
export function statusLine(status: number): string {
  return `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`;
}
