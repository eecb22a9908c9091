// Which addresses a server-side fetch of a client-given URL may connect to. Loopback, private, link-local
// and other special-purpose ranges are refused (the client must not reach our internal network through
// us), unless an operator allowlisted the hostname or address.
import { BlockList, isIP } from "node:net";

const SPECIAL_V4: [string, number][] = [
  ["0.0.0.0", 8], // "this network", including 0.0.0.0 which connects to the local host
  ["10.0.0.0", 8],
  ["100.64.0.0", 10], // carrier-grade NAT
  ["127.0.0.0", 8],
  ["169.254.0.0", 16], // link-local, where cloud metadata services live
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.88.99.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved and broadcast
];

const SPECIAL_V6: [string, number][] = [
  ["::", 96], // unspecified, loopback (::1) and IPv4-compatible
  ["100::", 64], // discard
  ["2001::", 23], // protocol assignments, Teredo (which hides an IPv4 address) among them
  ["2001:db8::", 32],
  ["fc00::", 7], // unique local
  ["fe80::", 10], // link-local
  ["fec0::", 10], // site-local
  ["ff00::", 8], // multicast
];

const special = new BlockList();
for (const [net, prefix] of SPECIAL_V4) special.addSubnet(net, prefix, "ipv4");
for (const [net, prefix] of SPECIAL_V6) special.addSubnet(net, prefix, "ipv6");

/** The eight 16-bit groups of an IPv6 address (a trailing dotted quad included). */
function ipv6Groups(address: string): number[] {
  let s = address;
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    s = `${s.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = s.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const fill: string[] = tail === undefined ? [] : new Array(8 - h.length - t.length).fill("0");
  return [...h, ...fill, ...t].map((g) => Number.parseInt(g, 16));
}

/** The IPv4 address a NAT64 (64:ff9b::/96) or 6to4 (2002::/16) address carries, which is what it reaches. */
function embeddedIpv4(address: string): string | null {
  const g = ipv6Groups(address);
  const quad = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0))
    return quad(g[6] ?? 0, g[7] ?? 0);
  if (g[0] === 0x2002) return quad(g[1] ?? 0, g[2] ?? 0);
  return null;
}

/** True for an address on the public internet; false for special-purpose ranges and for non-addresses. */
export function isPublicAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, "").split("%")[0]!;
  const family = isIP(bare);
  if (family === 4) return !special.check(bare, "ipv4");
  if (family !== 6) return false;
  if (special.check(bare, "ipv6")) return false;
  const v4 = embeddedIpv4(bare);
  return v4 === null || !special.check(v4, "ipv4");
}

/** Lower-case, without IPv6 brackets or a trailing dot; IP addresses in their canonical (URL) spelling. */
export function normalizeHost(host: string): string {
  const bare = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, "")
    .replace(/\.$/, "");
  try {
    return new URL(`http://${isIP(bare) === 6 ? `[${bare}]` : bare}/`).hostname.replace(/^\[|\]$/g, "");
  } catch {
    return bare;
  }
}

export class AddressPolicy {
  private readonly allowlist: ReadonlySet<string>;

  constructor(allowlist: readonly string[]) {
    this.allowlist = new Set(allowlist.map(normalizeHost));
  }

  /** Whether a URL's host may be connected to at `address` (one of the addresses it resolved to). */
  allows(host: string, address: string): boolean {
    return (
      isPublicAddress(address) ||
      this.allowlist.has(normalizeHost(host)) ||
      this.allowlist.has(normalizeHost(address))
    );
  }
}
