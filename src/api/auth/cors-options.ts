// CORS for browser clients (server.cors_origins): only listed origins get CORS headers; the headers a
// client needs for keys, idempotency, ranges and resumed event streams are allowed.
import type { FastifyCorsOptions } from "@fastify/cors";

export function corsOptions(origins: readonly string[]): FastifyCorsOptions {
  const any = origins.includes("*");
  const listed = new Set(origins);
  return {
    // false (not an error) for any other origin: the response simply carries no CORS headers.
    origin: (origin, cb) => cb(null, origin !== undefined && (any || listed.has(origin))),
    methods: ["GET", "HEAD", "POST", "DELETE", "OPTIONS"],
    allowedHeaders: [
      "authorization",
      "x-api-key",
      "content-type",
      "idempotency-key",
      "last-event-id",
      "range",
      "if-range",
    ],
    exposedHeaders: ["retry-after", "content-range", "accept-ranges", "etag", "content-disposition"],
    maxAge: 600,
    // Our refusal (no CORS headers, then access control) instead of the plugin's plain-text 400.
    strictPreflight: false,
  };
}
