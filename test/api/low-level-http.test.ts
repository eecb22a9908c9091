// Requests Node's HTTP parser refuses before any route runs (bad framing, forbidden header bytes, no Host,
// an HTTP/2 preface, oversized headers) and a WebSocket upgrade without a key: each still answers with the
// documented {"error": {"code", "message", "details"}} body, never Fastify's default shape or an empty body.
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";

let orch: RunningOrchestrator;
let port: number;

beforeAll(async () => {
  orch = await startOrchestrator({ backends: [] });
  port = Number(new URL(orch.url).port);
});
afterAll(async () => {
  await orch?.stop();
});

/** Sends raw bytes and reads until the server closes or a full response (by Content-Length) arrived. */
function raw(bytes: string | Buffer): Promise<{ status: number; headers: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let buf = Buffer.alloc(0);
    const timer = setTimeout(
      () => socket.destroy(new Error(`no answer; got ${JSON.stringify(buf.toString())}`)),
      5000,
    );
    const done = () => {
      clearTimeout(timer);
      const text = buf.toString("utf8");
      const split = text.indexOf("\r\n\r\n");
      const head = split >= 0 ? text.slice(0, split) : text;
      resolve({
        status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0),
        headers: head,
        body: text.slice(split + 4),
      });
      socket.destroy();
    };
    socket.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      const text = buf.toString("utf8");
      const split = text.indexOf("\r\n\r\n");
      const len = /content-length: (\d+)/i.exec(text.slice(0, split))?.[1];
      if (split >= 0 && len !== undefined && Buffer.byteLength(text.slice(split + 4)) >= Number(len)) done();
    });
    socket.on("end", done);
    socket.on("close", done);
    socket.on("error", (err) => (buf.length ? done() : reject(err)));
    socket.write(bytes);
  });
}

function expectShape(r: { status: number; body: string }, status: number) {
  expect(r.status, r.body).toBe(status);
  const body = JSON.parse(r.body);
  expect(typeof body.error.code).toBe("string");
  expect(typeof body.error.message).toBe("string");
  expect(body.error).toHaveProperty("details");
  return body.error;
}

const post = (headers: string, body = "") =>
  `POST /api/job HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}\r\n\r\n${body}`;

describe("low-level HTTP errors use the error shape", () => {
  const cases: [string, string | Buffer][] = [
    ["a bad Content-Length", post("Content-Type: application/json\r\nContent-Length: abc", "{}")],
    [
      "Transfer-Encoding beside Content-Length",
      post("Transfer-Encoding: chunked\r\nContent-Length: 3", "0\r\n\r\n"),
    ],
    [
      "a bad chunk size",
      post("Content-Type: application/json\r\nTransfer-Encoding: chunked", "zz\r\n{}\r\n0\r\n\r\n"),
    ],
    ["a NUL in a header", "GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\u0000b\r\n\r\n"],
    ["a bare CR in a header", "GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\rb\r\n\r\n"],
    ["an obs-fold header", "GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\r\n  b\r\n\r\n"],
    ["an HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"],
  ];
  for (const [what, bytes] of cases) {
    it(`answers ${what} with 400 and the error shape`, async () => {
      const err = expectShape(await raw(bytes), 400);
      expect(err.code).toBe("BAD_REQUEST");
    });
  }

  it("answers a request without Host with 400 naming the header", async () => {
    const err = expectShape(await raw("GET /api/health HTTP/1.1\r\n\r\n"), 400);
    expect(err.details.field).toBe("host");
  });

  it("answers headers over the limit with 431 and the error shape", async () => {
    const r = await raw(
      `GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`,
    );
    expect(expectShape(r, 431).code).toBe("HEADERS_TOO_LARGE");
  });

  it("answers a WebSocket upgrade without a key with 400 naming the header", async () => {
    const r = await raw(
      "GET /api/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    const err = expectShape(r, 400);
    expect(err.details.field).toBe("sec-websocket-key");
  });

  it("still serves a well-formed request on the same server", async () => {
    const r = await raw("GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    expect(r.status, r.body).toBe(200);
  });
});
