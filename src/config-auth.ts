// Config for access control (API keys, their roles and limits) and for credentials toward ComfyUI hosts.
// Kept beside config.ts so the secrets-bearing parts of the schema are in one place.
import { z } from "zod";

export const ROLES = ["read", "submit", "admin"] as const;
export const RoleSchema = z.enum(ROLES);
export type Role = z.infer<typeof RoleSchema>;

/** What a key may look like on the wire: RFC 6750's b64token, so it can be sent as `Bearer KEY` as it is. */
export const KEY_PATTERN = /^[A-Za-z0-9._~+/=-]{16,512}$/;
export const KEY_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

/** Per-key limits; 0 means unlimited, absent means the `auth.defaults` value. */
export const KeyLimitsSchema = z.strictObject({
  rate_limit_per_min: z.number().int().min(0).optional(),
  max_queued: z.number().int().min(0).optional(),
});

export const ApiKeyConfigSchema = z
  .strictObject({
    id: z.string().regex(KEY_ID_PATTERN, "expected 1-64 letters, digits, '_', '.' or '-'"),
    name: z.string().min(1).optional(),
    key: z
      .string()
      .regex(KEY_PATTERN, "expected 16-512 characters of A-Z a-z 0-9 . _ ~ + / = - (no spaces)")
      .optional(),
    /** The hex sha256 of the key, so the key itself need not be in the file. */
    key_sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, "expected the 64 hex digits of the key's sha256")
      .transform((s) => s.toLowerCase())
      .optional(),
    role: RoleSchema,
    expires_at: z.iso.datetime({ offset: true }).optional(),
    ...KeyLimitsSchema.shape,
  })
  .refine((k) => (k.key === undefined) !== (k.key_sha256 === undefined), {
    message: 'give exactly one of "key" or "key_sha256"',
    path: ["key"],
  });
export type ApiKeyConfig = z.infer<typeof ApiKeyConfigSchema>;

export const AuthConfigSchema = z
  .strictObject({
    /** With none, the server is open (as before access control existed) and says so. */
    keys: z.array(ApiKeyConfigSchema).default([]),
    defaults: z
      .strictObject({
        rate_limit_per_min: z.number().int().min(0).default(1200),
        max_queued: z.number().int().min(0).default(1000),
      })
      .prefault({}),
  })
  .superRefine((auth, ctx) => {
    const ids = new Map<string, number>();
    auth.keys.forEach((k, i) => {
      const first = ids.get(k.id);
      if (first === undefined) ids.set(k.id, i);
      else
        ctx.addIssue({
          code: "custom",
          path: ["keys", i, "id"],
          message: `duplicate id "${k.id}" (also auth.keys[${first}])`,
        });
    });
  })
  .prefault({});
export type AuthConfig = z.infer<typeof AuthConfigSchema>;

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers the HTTP client and the WebSocket handshake own; a configured value would break them. */
const RESERVED_HEADERS = new Set([
  "host",
  "content-length",
  "content-type",
  "transfer-encoding",
  "connection",
  "upgrade",
]);

/** Credentials toward a host behind an authenticating reverse proxy. */
export const BackendCredentialsShape = {
  /** Sent on every HTTP call and on the WebSocket upgrade, e.g. `Authorization: Bearer …`. */
  headers: z
    .record(z.string(), z.string())
    .superRefine((headers, ctx) => {
      for (const [name, value] of Object.entries(headers)) {
        const message = !HEADER_NAME.test(name)
          ? "expected an HTTP header name"
          : RESERVED_HEADERS.has(name.toLowerCase())
            ? "this header is set by Orchestrator itself"
            : /[\r\n\0]/.test(value)
              ? "a header value cannot contain line breaks or NUL"
              : null;
        if (message) ctx.addIssue({ code: "custom", path: [name], message });
      }
    })
    .default({}),
  basic_auth: z.strictObject({ username: z.string().min(1), password: z.string() }).optional(),
};

export function credentialsConflict(b: { headers: Record<string, string>; basic_auth?: unknown }): boolean {
  return (
    b.basic_auth !== undefined && Object.keys(b.headers).some((h) => h.toLowerCase() === "authorization")
  );
}

/** The headers a backend's credentials add to each request to it. */
export function credentialHeaders(b: {
  headers: Record<string, string>;
  basic_auth?: { username: string; password: string };
}): Record<string, string> {
  const out: Record<string, string> = { ...b.headers };
  if (b.basic_auth) {
    const token = Buffer.from(`${b.basic_auth.username}:${b.basic_auth.password}`).toString("base64");
    out.authorization = `Basic ${token}`;
  }
  return out;
}

/** `server.cors_origins`: exact origins (`https://app.example.com`) or "*". */
export const CorsOriginsSchema = z
  .array(
    z.string().refine((o) => o === "*" || isOrigin(o), {
      message: 'expected an origin such as "https://app.example.com" (scheme, host, optional port) or "*"',
    }),
  )
  .default([]);

function isOrigin(s: string): boolean {
  try {
    return new URL(s).origin === s;
  } catch {
    return false;
  }
}
