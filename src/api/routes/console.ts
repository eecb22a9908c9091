// Serves the web console (src/console/) and the view library it imports (preact, htm) from node_modules,
// so it works on a LAN with no internet and with no build step. Not part of the API: these routes are
// hidden from the API description and only ever return files from a fixed set of places.
import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema } from "fastify";
import { AppError } from "../../errors.js";

const CONSOLE_DIR = path.resolve(import.meta.dirname, "../../console");

const require = createRequire(import.meta.url);
/** The only files the console may load from node_modules, by the URL it imports them under. */
const VENDOR: Record<string, string> = {
  "preact.mjs": require.resolve("preact"),
  "preact-hooks.mjs": require.resolve("preact/hooks"),
  "htm.mjs": path.join(path.dirname(require.resolve("htm")), "htm.mjs"),
};

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};

/** Lower-case names, folders allowed, no dot segments: nothing outside the console folder can match. */
const SAFE_PATH = /^(?:[a-z0-9][a-z0-9_-]*\/)*[a-z0-9][a-z0-9_.-]*\.(?:html|js|css|svg|png)$/;

export async function consoleRoutes(app: FastifyInstance): Promise<void> {
  // @fastify/swagger reads `hide` (it adds the type when it is registered); the console is not the API.
  const hide = { schema: { hide: true } as FastifySchema };
  // One canonical address keeps relative links and the browser history simple.
  app.get("/", hide, async (_req, reply) => reply.redirect("/console/"));
  app.get("/console", hide, async (_req, reply) => reply.redirect("/console/"));
  app.get("/console/", hide, async (req, reply) => sendIndex(req, reply));
  app.get("/console/vendor/:file", hide, async (req, reply) => {
    const file = VENDOR[(req.params as { file: string }).file];
    if (!file) notFound(req.url);
    return sendFile(req, reply, file);
  });
  app.get("/console/*", hide, async (req, reply) => {
    const rel = (req.params as { "*": string })["*"];
    if (!SAFE_PATH.test(rel) || rel.startsWith("vendor/")) notFound(req.url);
    return sendFile(req, reply, path.join(CONSOLE_DIR, rel));
  });
}

async function sendIndex(req: FastifyRequest, reply: FastifyReply) {
  const html = await readFile(path.join(CONSOLE_DIR, "index.html"), "utf8");
  // The import map has to be inline; its hash lets the policy forbid every other inline script.
  const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html)?.[1] ?? "";
  const mapHash = createHash("sha256").update(importMap).digest("base64");
  reply.header(
    "content-security-policy",
    [
      "default-src 'self'",
      `script-src 'self' 'sha256-${mapHash}'`,
      "img-src 'self' blob: data:",
      "media-src 'self' blob:",
      "connect-src 'self'",
      "style-src 'self'",
      "object-src 'none'",
      "base-uri 'none'",
      "frame-ancestors 'none'",
    ].join("; "),
  );
  return send(req, reply, Buffer.from(html), ".html");
}

async function sendFile(req: FastifyRequest, reply: FastifyReply, file: string) {
  const st = await stat(file).catch(() => null);
  if (!st?.isFile()) notFound(req.url);
  return send(req, reply, await readFile(file), path.extname(file));
}

// Revalidated on every load (files change with the repo), answered with 304 when unchanged.
function send(req: FastifyRequest, reply: FastifyReply, body: Buffer, ext: string) {
  const etag = `"${createHash("sha1").update(body).digest("base64url")}"`;
  reply.header("etag", etag).header("cache-control", "no-cache").header("x-content-type-options", "nosniff");
  if (req.headers["if-none-match"] === etag) return reply.code(304).send();
  return reply.type(TYPES[ext] ?? "application/octet-stream").send(body);
}

function notFound(url: string): never {
  throw new AppError("NOT_FOUND", `No console file at ${url.split("?")[0]}`, { url: url.split("?")[0] });
}
