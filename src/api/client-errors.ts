// Requests refused below the router: Node's HTTP parser (bad framing, forbidden header bytes, oversized
// headers, an HTTP/2 preface), a missing Host and a WebSocket upgrade that is not a valid handshake. They
// get the same {"error": {...}} body as every other error, written straight to the socket when no
// request object exists yet.
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { AppError, ERRORS } from "../errors.js";
import { errorBody } from "./error-handler.js";

const PARSER_MESSAGES: Record<string, string> = {
  HPE_INVALID_CONTENT_LENGTH: "Content-Length is not a valid number",
  HPE_UNEXPECTED_CONTENT_LENGTH: "Content-Length and Transfer-Encoding cannot both be set",
  HPE_INVALID_TRANSFER_ENCODING: "Transfer-Encoding is invalid",
  HPE_INVALID_CHUNK_SIZE: "a chunk size is not valid hexadecimal",
  HPE_INVALID_HEADER_TOKEN: "a header contains a forbidden character",
  HPE_LF_EXPECTED: "a header line is not terminated by CRLF",
  HPE_CR_EXPECTED: "a header line is not terminated by CRLF",
  HPE_INVALID_METHOD: "unknown method (HTTP/2 needs TLS with ALPN, which this server does not offer)",
  HPE_INVALID_VERSION: "unsupported HTTP version",
  HPE_INVALID_CONSTANT: "the request is not valid HTTP/1.1",
  HPE_INVALID_URL: "the request target is not a valid URL",
};

/** Fastify's `clientErrorHandler`: answers in our error shape, then closes the connection. */
export function onClientError(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === "ECONNRESET" || !socket.writable) {
    socket.destroy();
    return;
  }
  const code = err.code ?? "";
  const [status, body] =
    code === "HPE_HEADER_OVERFLOW"
      ? [431, errorBody("HEADERS_TOO_LARGE", ERRORS.HEADERS_TOO_LARGE.message, { field: "headers" })]
      : code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, errorBody("REQUEST_TIMEOUT", ERRORS.REQUEST_TIMEOUT.message, {})]
        : [
            400,
            errorBody(
              "BAD_REQUEST",
              `${ERRORS.BAD_REQUEST.message}: ${PARSER_MESSAGES[code] ?? err.message}`,
              {
                reason: code || "invalid request",
              },
            ),
          ];
  endWithError(socket, status, body);
}

/** Writes a whole response by hand and closes: for sockets that no ServerResponse owns. */
function endWithError(socket: Socket, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
  );
  socket.destroySoon();
}

const WS_KEY = /^[+/0-9A-Za-z]{22}==$/;

/** Hooks for what reaches Fastify but is still malformed: no Host, a broken WebSocket handshake. */
export function installRequestChecks(app: FastifyInstance): void {
  app.addHook("onRequest", async (req: FastifyRequest, reply: FastifyReply) => {
    // HTTP/1.1 requires Host (RFC 9112 §3.2); Node's own refusal has an empty body, so it is checked here.
    if (req.raw.httpVersion === "1.1" && !req.headers.host) {
      throw new AppError("VALIDATION_FAILED", "The Host header is required", { field: "host" });
    }
    if (req.headers.upgrade?.toLowerCase() === "websocket") {
      const key = req.headers["sec-websocket-key"];
      const version = req.headers["sec-websocket-version"];
      const problem =
        typeof key !== "string" || !WS_KEY.test(key.trim())
          ? { field: "sec-websocket-key", message: "A WebSocket upgrade needs a valid Sec-WebSocket-Key" }
          : version !== "13" && version !== "8"
            ? { field: "sec-websocket-version", message: "Sec-WebSocket-Version must be 13" }
            : null;
      if (!problem) return;
      // An upgrade's socket left Node's HTTP server: answer on it directly, or ws answers in plain text.
      reply.hijack();
      endWithError(
        req.raw.socket,
        400,
        errorBody("VALIDATION_FAILED", problem.message, { field: problem.field }),
      );
      return reply;
    }
  });
}
