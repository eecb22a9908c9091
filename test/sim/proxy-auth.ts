// Stands in for an authenticating reverse proxy in front of a host (ComfyUI itself has no auth): with
// `requireHeaders` set, any HTTP request or /ws upgrade lacking one of them is refused with 401.
import type { IncomingMessage } from "node:http";

export function lacksRequiredHeaders(req: IncomingMessage, required?: Record<string, string>): boolean {
  if (!required) return false;
  return Object.entries(required).some(([name, value]) => req.headers[name.toLowerCase()] !== value);
}
