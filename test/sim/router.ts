// A minimal method+path router. Paths are matched after the "/api" prefix is stripped, because ComfyUI
// registers every route twice, bare and under /api.
import type { IncomingMessage, ServerResponse } from "node:http";

export type Handler = (
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  params: string[],
) => Promise<void> | void;

export interface Route {
  method: "GET" | "POST";
  pattern: RegExp;
  handler: Handler;
}

/** "/history/{prompt_id}" → a route whose handler gets the decoded segment as params[0]. */
export function route(method: Route["method"], path: string, handler: Handler): Route {
  const source = path.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{[^}]+\}/g, "([^/]+)");
  return { method, pattern: new RegExp(`^${source}$`), handler };
}

export type Match = { route: Route; params: string[] } | "method_not_allowed" | undefined;

export function matchRoute(routes: Route[], method: string, path: string): Match {
  let pathKnown = false;
  for (const r of routes) {
    const m = r.pattern.exec(path);
    if (!m) continue;
    pathKnown = true;
    // aiohttp answers HEAD on GET routes.
    if (r.method === method || (method === "HEAD" && r.method === "GET")) {
      return { route: r, params: m.slice(1).map((p) => decodeURIComponent(p)) };
    }
  }
  return pathKnown ? "method_not_allowed" : undefined;
}
