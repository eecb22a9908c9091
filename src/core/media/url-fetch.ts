// Fetches the http(s) URL of an `image` parameter without letting clients use this server to reach the
// internal network: every address a hostname resolves to must pass the AddressPolicy, and the socket
// connects only to the addresses that were checked (so DNS rebinding cannot swap them). Redirects are
// followed by hand, each hop checked again; the body streams under a size cap, a deadline and a
// magic-number check, so a huge or non-image answer is dropped early.
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { isIP, type LookupFunction } from "node:net";
import type { Readable } from "node:stream";
import { Agent, request } from "undici";
import { AppError } from "../../errors.js";
import { AddressPolicy } from "./address-policy.js";
import { sniffImage } from "./image-input.js";

export interface UrlFetchOptions {
  maxBytes: number;
  timeoutMs: number;
  /** Hostnames or IPs that may be reached even if private or loopback. */
  allowlist: readonly string[];
  maxRedirects?: number;
}

export type UrlFetcher = (url: string, field: string) => Promise<Buffer>;

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Enough bytes for every signature sniffImage knows (WebP needs 12). */
const SNIFF_BYTES = 12;

/** Raised inside the socket's lookup; carries the reason to the caller through undici's errors. */
class RefusedAddress extends Error {}

export function createUrlFetcher(o: UrlFetchOptions): UrlFetcher {
  const policy = new AddressPolicy(o.allowlist);
  const maxRedirects = o.maxRedirects ?? 5;

  // net.connect calls this for hostnames (never for IP literals, which are checked before the request).
  // Resolving and checking here, then handing back exactly the checked addresses, is what pins them.
  const lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { all: true, family: options.family ?? 0 }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, "", 0);
      const refused = addresses.find((a) => !policy.allows(hostname, a.address));
      if (refused || addresses.length === 0) {
        const why = refused
          ? `resolves to ${refused.address}, a private or reserved address`
          : "resolves to no address";
        return callback(new RefusedAddress(`host "${hostname}" ${why}`), "", 0);
      }
      if (options.all) return callback(null, addresses);
      return callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };

  return async (raw, field) => {
    const fail = (message: string) =>
      new AppError("MEDIA_INVALID", `${field}: ${message}`, { field, message });
    const signal = AbortSignal.timeout(o.timeoutMs);
    // One agent per fetch: no connection outlives the checks made for it, or is shared with another URL.
    const agent = new Agent({
      connect: { lookup, timeout: o.timeoutMs },
      headersTimeout: o.timeoutMs,
      bodyTimeout: o.timeoutMs,
    });
    try {
      let url = checkedUrl(raw, policy, fail);
      for (let hop = 0; ; hop++) {
        const res = await request(url, {
          method: "GET",
          dispatcher: agent,
          signal,
          headers: { accept: "image/png, image/jpeg, image/webp, image/gif;q=0.9, */*;q=0.1" },
        });
        if (REDIRECTS.has(res.statusCode)) {
          discard(res.body);
          const location = res.headers.location;
          if (typeof location !== "string") throw fail(`HTTP ${res.statusCode} redirect without a location`);
          if (hop >= maxRedirects) throw fail(`more than ${maxRedirects} redirects`);
          url = checkedUrl(new URL(location, url).href, policy, fail);
          continue;
        }
        if (res.statusCode < 200 || res.statusCode > 299) {
          discard(res.body);
          throw fail(`the image server answered HTTP ${res.statusCode}`);
        }
        const declared = Number(res.headers["content-length"]);
        if (Number.isFinite(declared) && declared > o.maxBytes) {
          discard(res.body);
          throw fail(`image is ${declared} bytes, the limit is ${o.maxBytes}`);
        }
        return await readImage(res.body, o.maxBytes, fail);
      }
    } catch (err) {
      if (err instanceof AppError) throw err;
      const refused = causeOf(err, RefusedAddress);
      if (refused) throw fail(`${refused.message}; refused (see media.url_allowlist)`);
      if (signal.aborted) throw fail(`no complete answer within ${o.timeoutMs / 1000} s`);
      throw fail(`could not fetch the image: ${describe(err)}`);
    } finally {
      agent.destroy().catch(() => {});
    }
  };
}

/** Parses one hop's URL; an IP-literal host is checked here, as no lookup will happen for it. */
function checkedUrl(raw: string, policy: AddressPolicy, fail: (m: string) => AppError): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw fail("not a valid URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw fail(`${url.protocol} URLs are not supported`);
  if (url.username || url.password) throw fail("URLs with credentials are not supported");
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (isIP(host) && !policy.allows(host, host)) {
    throw fail(`${host} is a private or reserved address; refused (see media.url_allowlist)`);
  }
  return url;
}

async function readImage(body: Readable, maxBytes: number, fail: (m: string) => AppError): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  let sniffed = false;
  // Throwing out of the loop destroys the body, so the rest of an oversize or non-image answer is never
  // read; undici reports that abort as an error event, which the listener keeps from going uncaught.
  body.on("error", () => {});
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw fail(`image is larger than ${maxBytes} bytes`);
    chunks.push(chunk);
    if (!sniffed && size >= SNIFF_BYTES) {
      sniffed = true;
      if (!sniffImage(Buffer.concat(chunks))) throw fail("not a PNG, JPEG, WebP or GIF image");
    }
  }
  return Buffer.concat(chunks, size);
}

/** Drops an answer's body; undici reports the abort as an error that nobody else is listening for. */
function discard(body: Readable): void {
  body.on("error", () => {});
  body.destroy();
}

function causeOf<T extends Error>(err: unknown, type: new (...args: never[]) => T): T | null {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof type) return e;
  }
  return null;
}

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.code ?? e.cause?.message ?? e.message ?? String(err);
}
