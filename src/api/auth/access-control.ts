// The one gate every request passes: who it is (API key), whether its key's rate allows it, whether its
// role allows the route, and whether the job it names is its own. Routes declare what they need in their
// config (`role`, `jobParam`, `tokenInQuery`, `authMessage`) instead of checking in their handlers.
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from "fastify";
import type { Role } from "../../config-auth.js";
import { AppError } from "../../errors.js";
import { errorResponses } from "../schemas/common.js";
import { presentedKey, unauthenticated } from "./credentials.js";
import type { KeyRegistry } from "./key-registry.js";
import { canSeeJob, OPEN, type Principal, roleAllows } from "./principal.js";
import type { RateLimiter } from "./rate-limiter.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /** The least role a key needs; "public": no key at all. Default: read for GET and HEAD, admin otherwise. */
    role?: Role | "public";
    /** The route parameter holding a job id: another key's job answers 404, as if it did not exist. */
    jobParam?: string;
    /** Also accept the key as `?token=` (EventSource cannot send headers). */
    tokenInQuery?: boolean;
    /** WebSocket routes: with no key in the headers the socket must authenticate with its first message. */
    authMessage?: boolean;
  }
  interface FastifyRequest {
    /** Null only on public routes and on sockets still to send their `auth` message. */
    principal: Principal | null;
  }
}

export interface AccessDeps {
  keys: KeyRegistry;
  limiter: RateLimiter;
  /** undefined: no such job. */
  ownerOf(jobId: string): string | null | undefined;
}

/** The OpenAPI security schemes a key can be sent with (the document's components.securitySchemes). */
export const SECURITY_SCHEMES = {
  bearer: { type: "http", scheme: "bearer", description: "`Authorization: Bearer KEY`" },
  apiKey: { type: "apiKey", in: "header", name: "X-API-Key", description: "`X-API-Key: KEY`" },
} as const;

/** Must run before the routes are added: each route's document entry gets its auth answers from here. */
export function installAccessControl(app: FastifyInstance, d: AccessDeps): void {
  app.decorateRequest("principal", null);
  app.addHook("onRoute", (route) => documentAccess(route));
  app.addHook("onRequest", async (req, reply) => {
    if (!d.keys.enabled) {
      req.principal = OPEN;
      return;
    }
    const cfg = req.routeOptions.config ?? {};
    if (cfg.role === "public" || !needsKey(req)) return;
    const presented = presentedKey(req.headers, req.url, cfg.tokenInQuery === true);
    if (presented.kind === "none") {
      if (cfg.authMessage) return;
      throw challenge(
        reply,
        unauthenticated(
          'An API key is required: send "Authorization: Bearer KEY" or "X-API-Key: KEY"',
          "missing_key",
        ),
      );
    }
    let p: Principal;
    try {
      p = d.keys.authenticate(presented.token);
    } catch (err) {
      throw challenge(reply, err as Error);
    }
    req.principal = p;
    const take = d.limiter.take(p.id!, p.rateLimitPerMin);
    if (!take.ok) {
      reply.header("retry-after", String(take.retryAfterS));
      throw new AppError(
        "RATE_LIMITED",
        `API key "${p.id}" is limited to ${p.rateLimitPerMin} requests per minute; retry in ${take.retryAfterS} s`,
        { key_id: p.id, rate_limit_per_min: p.rateLimitPerMin, retry_after_s: take.retryAfterS },
      );
    }
    const needs = cfg.role ?? (req.method === "GET" || req.method === "HEAD" ? "read" : "admin");
    if (!roleAllows(p.role, needs)) {
      throw new AppError(
        "FORBIDDEN",
        `API key "${p.id}" has role "${p.role}"; ${req.method} ${req.routeOptions.url} needs "${needs}"`,
        { key_id: p.id, role: p.role, required_role: needs },
      );
    }
    if (cfg.jobParam) assertJobVisible(p, (req.params as Record<string, string>)[cfg.jobParam], d);
  });
}

/** Throws the same 404 an unknown job gets, so a job id reveals nothing to another key. */
export function assertJobVisible(p: Principal, id: string | undefined, d: Pick<AccessDeps, "ownerOf">): void {
  if (id === undefined) return;
  const owner = d.ownerOf(id);
  if (owner !== undefined && !canSeeJob(p, owner)) {
    throw new AppError("JOB_NOT_FOUND", `Job "${id}" not found`, { job_id: id });
  }
}

/**
 * Matched routes are judged by their declared path, never by the raw URL. A URL no route matched (other
 * case, doubled or encoded slashes) still needs a key when it looks like the API, so probing it tells
 * nothing about which routes exist.
 */
function needsKey(req: FastifyRequest): boolean {
  const route = req.routeOptions.url;
  // /metrics too: it names every workflow and host, and scrapers can send a key.
  if (route !== undefined && route !== "*")
    return route === "/api" || route.startsWith("/api/") || route === "/metrics";
  const raw = req.url.split("?")[0] ?? "";
  let decoded = raw;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    // a malformed escape: judge the raw path
  }
  const first = decoded
    .toLowerCase()
    .split(/[/\\]+/)
    .find((s) => s !== "" && s !== ".");
  return first === "api";
}

/** Adds 401/403/429 and the security requirement to a keyed route's schema, so the document tells. */
function documentAccess(route: RouteOptions): void {
  const url = route.url;
  if (!route.schema || !(url === "/api" || url.startsWith("/api/"))) return;
  const schema = route.schema as { response?: Record<string, unknown>; security?: unknown };
  if (route.config?.role === "public") {
    schema.security = [];
    return;
  }
  schema.security = [{ bearer: [] }, { apiKey: [] }];
  const auth = errorResponses("UNAUTHENTICATED", "FORBIDDEN", "RATE_LIMITED");
  const response = { ...schema.response };
  for (const status of ["401", "403", "429"]) response[status] ??= auth[Number(status)];
  schema.response = response;
}

function challenge(reply: FastifyReply, err: Error): Error {
  reply.header("www-authenticate", 'Bearer realm="orchestrator"');
  return err;
}
