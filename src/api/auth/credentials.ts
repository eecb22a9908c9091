// Where a request carries its API key: `Authorization: Bearer KEY`, `X-API-Key: KEY`, or (only where a
// route allows it, for EventSource) `?token=KEY`. Anything malformed or ambiguous is refused, never repaired.
import type { IncomingHttpHeaders } from "node:http";
import { KEY_PATTERN } from "../../config-auth.js";
import { AppError } from "../../errors.js";

export type Presented = { kind: "none" } | { kind: "token"; token: string };

const BEARER = /^Bearer ([^ ]+)$/i;

export function presentedKey(headers: IncomingHttpHeaders, url: string, allowQuery: boolean): Presented {
  const found: string[] = [];
  const auth = headers.authorization;
  if (auth !== undefined) {
    const m = BEARER.exec(auth);
    if (!m) {
      throw unauthenticated('The Authorization header must be "Bearer KEY"', "malformed_authorization");
    }
    found.push(m[1]!);
  }
  const xKey = headers["x-api-key"];
  // Node joins a repeated X-API-Key with ", ", which the key pattern below then refuses.
  if (xKey !== undefined) found.push(Array.isArray(xKey) ? xKey.join(", ") : xKey);
  if (allowQuery) {
    const q = url.indexOf("?");
    const tokens = q < 0 ? [] : new URLSearchParams(url.slice(q + 1)).getAll("token");
    found.push(...tokens);
  }
  if (found.length === 0) return { kind: "none" };
  if (new Set(found).size > 1) {
    throw unauthenticated("The request carries more than one different API key", "conflicting_keys");
  }
  const token = found[0]!;
  if (!KEY_PATTERN.test(token)) {
    throw unauthenticated(
      "The API key is malformed (it has spaces or characters keys never have)",
      "malformed_key",
    );
  }
  return { kind: "token", token };
}

export function unauthenticated(message: string, reason: string): AppError {
  return new AppError("UNAUTHENTICATED", message, { reason });
}

/** A URL fit for logs: the value of every `token` query parameter replaced. */
export function redactUrl(url: string): string {
  const q = url.indexOf("?");
  if (q < 0 || !/token=/i.test(url.slice(q))) return url;
  return `${url.slice(0, q)}?${url
    .slice(q + 1)
    .split("&")
    .map((part) => (/^token=/i.test(part) ? "token=REDACTED" : part))
    .join("&")}`;
}
