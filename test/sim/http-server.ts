// The node:http listener: ComfyUI's origin check, route-level faults (errors and hangs), dispatch with the
// /api prefix stripped, aiohttp-style error pages, and the /ws upgrade handed to `ws`.
import http from "node:http";
import type { Socket } from "node:net";
import type { WebSocket, WebSocketServer } from "ws";
import { stripApi } from "./faults.js";
import type { SimRuntime } from "./host-process.js";
import { BodyTooLarge, sendErrorPage, sendStatus, statusLine } from "./http-io.js";
import { lacksRequiredHeaders } from "./proxy-auth.js";
import { matchRoute, type Route } from "./router.js";

export interface ListenerDeps {
  rt: SimRuntime;
  routes: Route[];
  wss: WebSocketServer;
  /** Every accepted TCP socket, so a crash can destroy them all (upgraded ones included). */
  sockets: Set<Socket>;
  onWebSocket(ws: WebSocket, clientId: string | null): void;
  /** Headers an authenticating proxy in front of the host would require (SimulatorOptions.requireHeaders). */
  requireHeaders?: Record<string, string>;
}

function isLoopbackHost(hostname: string): boolean {
  return (
    hostname === "localhost" || hostname.startsWith("127.") || hostname === "[::1]" || hostname === "::1"
  );
}

/**
 * create_origin_only_middleware: on a loopback Host, a browser Origin naming another host gets a 403 (ports are
 * compared only when both sides carry one).
 */
function originRefused(req: http.IncomingMessage): boolean {
  const host = req.headers.host?.toLowerCase();
  const origin = req.headers.origin;
  if (!host || !origin) return false;
  let o: URL;
  let h: URL;
  try {
    o = new URL(origin);
    h = new URL(`http://${host}`);
  } catch {
    return false;
  }
  if (!isLoopbackHost(h.hostname)) return false;
  const hostDomain = o.port === "" ? h.hostname : host;
  const originDomain = h.port === "" ? o.hostname : o.host.toLowerCase();
  return hostDomain.length > 0 && originDomain.length > 0 && hostDomain !== originDomain;
}

export function createHttpServer(deps: ListenerDeps): http.Server {
  const { rt, routes } = deps;
  const server = http.createServer((req, res) => {
    void handle(req, res).catch(() => {
      if (!res.headersSent && !res.destroyed) sendErrorPage(res, 500);
      else res.destroy();
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (lacksRequiredHeaders(req, deps.requireHeaders)) return sendErrorPage(res, 401);
    if (originRefused(req)) return sendStatus(res, 403);
    if (req.method === "OPTIONS") return sendStatus(res, 200);
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const path = stripApi(url.pathname);
    const fault = rt.faults.takeForRoute(path);
    if (fault?.kind === "hang") return; // never answered; the socket stays open until the client gives up
    if (fault?.kind === "http_error") return sendErrorPage(res, fault.status ?? 500);
    const match = matchRoute(routes, req.method ?? "GET", path);
    if (match === undefined) return sendErrorPage(res, 404);
    if (match === "method_not_allowed") return sendErrorPage(res, 405);
    try {
      await match.route.handler(req, res, url, match.params);
    } catch (e) {
      if (res.headersSent || res.destroyed) return;
      if (e instanceof BodyTooLarge) return sendErrorPage(res, 413);
      rt.log(
        `unhandled error on ${req.method} ${url.pathname}: ${e instanceof Error ? e.message : String(e)}`,
      );
      sendErrorPage(res, 500);
    }
  }

  server.on("connection", (socket: Socket) => {
    deps.sockets.add(socket);
    socket.on("close", () => deps.sockets.delete(socket));
  });

  server.on("upgrade", (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on("error", () => {});
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const path = stripApi(url.pathname);
    if (path !== "/ws") {
      socket.end(statusLine(404));
      return;
    }
    if (lacksRequiredHeaders(req, deps.requireHeaders)) {
      socket.end(statusLine(401));
      return;
    }
    if (originRefused(req)) {
      socket.end(statusLine(403));
      return;
    }
    const fault = rt.faults.takeForRoute(path);
    if (fault?.kind === "hang") return;
    if (fault?.kind === "http_error") {
      socket.end(statusLine(fault.status ?? 500));
      return;
    }
    deps.wss.handleUpgrade(req, socket, head, (ws) => deps.onWebSocket(ws, url.searchParams.get("clientId")));
  });

  return server;
}
