// Which webhook URLs this server will call. Checked at submit (a clear 400) and again before every send, so
// tightening the config also stops deliveries already queued for a host no longer allowed.
import { AppError } from "../../errors.js";

export class WebhookPolicy {
  private readonly exact = new Set<string>();
  private readonly suffixes: string[] = [];
  private readonly any: boolean;

  /** `allowedHosts`: lower-case hostnames, "*.example.com" for subdomains, "*" for any host. */
  constructor(allowedHosts: readonly string[]) {
    for (const h of allowedHosts) {
      if (h.startsWith("*.")) this.suffixes.push(h.slice(1));
      else if (h !== "*") this.exact.add(stripBrackets(h));
    }
    this.any = allowedHosts.includes("*");
  }

  get enabled(): boolean {
    return this.any || this.exact.size > 0 || this.suffixes.length > 0;
  }

  /** Why `url` may not be called, or null when it may. */
  problem(url: string): string | null {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return "not a valid URL";
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") return "expected an http or https URL";
    if (!this.enabled) return "webhooks are not enabled on this server (webhooks.allowed_hosts is empty)";
    const host = stripBrackets(u.hostname.toLowerCase()).replace(/\.$/, "");
    if (this.any || this.exact.has(host) || this.suffixes.some((s) => host.endsWith(s))) return null;
    return `host "${host}" is not in webhooks.allowed_hosts`;
  }

  /** Throws the submit-time 400 naming the `webhook_url` field. */
  assertAllowed(url: string): void {
    const message = this.problem(url);
    if (message) {
      throw new AppError("VALIDATION_FAILED", `Invalid webhook_url: ${message}`, {
        fields: [{ field: "webhook_url", message }],
      });
    }
  }
}

/** URL.hostname keeps IPv6 literals in brackets; config entries may be written either way. */
const stripBrackets = (h: string) => (h.startsWith("[") && h.endsWith("]") ? h.slice(1, -1) : h);
