// Every API key the server accepts: those in config.yaml and those made at runtime (stored hashed). A
// presented key is hashed and compared in constant time; the key itself is never kept or logged.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { ApiKeyConfig, AuthConfig, Role } from "../../config-auth.js";
import type { KeyStore, StoredKey } from "../../core/storage/key-store.js";
import { AppError } from "../../errors.js";
import type { Principal } from "./principal.js";

interface ConfigKey {
  hash: Buffer;
  config: ApiKeyConfig;
}

export interface NewKey {
  id?: string;
  name?: string;
  role: Role;
  rate_limit_per_min?: number;
  max_queued?: number;
  expires_at?: string;
}

/** What GET /api/keys shows: never the key nor its hash. */
// A type, not an interface: route response types (loose zod objects) need an index signature.
export type KeyView = {
  id: string;
  name: string | null;
  role: Role;
  source: "config" | "api";
  rate_limit_per_min: number;
  max_queued: number;
  expires_at: string | null;
  created_at: string | null;
  created_by: string | null;
  revoked_at: string | null;
};

export const sha256 = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest();

export class KeyRegistry {
  private readonly configKeys: ConfigKey[];
  /** Access control is on as soon as config.yaml has a key; runtime keys alone cannot switch it on. */
  readonly enabled: boolean;

  constructor(
    private readonly auth: AuthConfig,
    private readonly store: KeyStore,
  ) {
    this.configKeys = auth.keys.map((k) => ({
      hash: k.key !== undefined ? sha256(k.key) : Buffer.from(k.key_sha256!, "hex"),
      config: k,
    }));
    this.enabled = this.configKeys.length > 0;
  }

  /** The principal for a presented key, or UNAUTHENTICATED saying why (unknown, expired, revoked). */
  authenticate(token: string, now = Date.now()): Principal {
    const hash = sha256(token);
    // Every config key is compared, with no early exit, so the time taken says nothing about which matched.
    let match: ApiKeyConfig | null = null;
    for (const k of this.configKeys) if (timingSafeEqual(hash, k.hash)) match = k.config;
    if (match) {
      assertLive(match.id, match.expires_at ?? null, null, now);
      return this.principal(match.id, match.name ?? null, match.role, match);
    }
    const hex = hash.toString("hex");
    const stored = this.store.byHash(hex);
    // The lookup is by hash (an attacker cannot steer it); the compare is constant-time all the same.
    if (!stored || !timingSafeEqual(hash, Buffer.from(stored.key_sha256, "hex"))) {
      throw new AppError("UNAUTHENTICATED", "Unknown API key", { reason: "unknown_key" });
    }
    assertLive(stored.id, stored.expires_at, stored.revoked_at, now);
    return this.principal(stored.id, stored.name, stored.role, {
      rate_limit_per_min: stored.rate_limit_per_min ?? undefined,
      max_queued: stored.max_queued ?? undefined,
    });
  }

  /** Makes a key; the returned `key` is the only time anyone sees it. */
  create(input: NewKey, createdBy: string | null): { key: string; view: KeyView } {
    const id = input.id ?? `key_${randomBytes(6).toString("hex")}`;
    if (this.configKeys.some((k) => k.config.id === id)) {
      throw new AppError("KEY_CONFLICT", `Key id "${id}" is defined in config.yaml`, { field: "id", id });
    }
    const key = `orch_${randomBytes(32).toString("base64url")}`;
    const row: StoredKey = {
      id,
      name: input.name ?? null,
      role: input.role,
      key_sha256: sha256(key).toString("hex"),
      rate_limit_per_min: input.rate_limit_per_min ?? null,
      max_queued: input.max_queued ?? null,
      created_at: new Date().toISOString(),
      created_by: createdBy,
      expires_at: input.expires_at ?? null,
      revoked_at: null,
    };
    if (!this.store.insert(row)) {
      throw new AppError("KEY_CONFLICT", `Key id "${id}" is already taken (ids of revoked keys too)`, {
        field: "id",
        id,
      });
    }
    return { key, view: this.storedView(row) };
  }

  list(): KeyView[] {
    const fromConfig = this.auth.keys.map(
      (k): KeyView => ({
        id: k.id,
        name: k.name ?? null,
        role: k.role,
        source: "config",
        rate_limit_per_min: k.rate_limit_per_min ?? this.auth.defaults.rate_limit_per_min,
        max_queued: k.max_queued ?? this.auth.defaults.max_queued,
        expires_at: k.expires_at ?? null,
        created_at: null,
        created_by: null,
        revoked_at: null,
      }),
    );
    return [...fromConfig, ...this.store.list().map((r) => this.storedView(r))];
  }

  /** Revokes a runtime key (repeats are harmless); keys from config.yaml are removed there. */
  revoke(id: string): KeyView {
    if (this.configKeys.some((k) => k.config.id === id)) {
      throw new AppError(
        "KEY_CONFLICT",
        `Key "${id}" is defined in config.yaml: remove it there and restart`,
        { id, source: "config" },
      );
    }
    if (!this.store.get(id)) throw new AppError("KEY_NOT_FOUND", `API key "${id}" not found`, { id });
    this.store.revoke(id, new Date().toISOString());
    return this.storedView(this.store.get(id)!);
  }

  private principal(
    id: string,
    name: string | null,
    role: Role,
    limits: { rate_limit_per_min?: number; max_queued?: number },
  ): Principal {
    return {
      id,
      name,
      role,
      rateLimitPerMin: limits.rate_limit_per_min ?? this.auth.defaults.rate_limit_per_min,
      maxQueued: limits.max_queued ?? this.auth.defaults.max_queued,
    };
  }

  private storedView(r: StoredKey): KeyView {
    return {
      id: r.id,
      name: r.name,
      role: r.role,
      source: "api",
      rate_limit_per_min: r.rate_limit_per_min ?? this.auth.defaults.rate_limit_per_min,
      max_queued: r.max_queued ?? this.auth.defaults.max_queued,
      expires_at: r.expires_at,
      created_at: r.created_at,
      created_by: r.created_by,
      revoked_at: r.revoked_at,
    };
  }
}

function assertLive(id: string, expiresAt: string | null, revokedAt: string | null, now: number): void {
  if (revokedAt !== null) {
    throw new AppError("UNAUTHENTICATED", `API key "${id}" was revoked`, { reason: "revoked", key_id: id });
  }
  if (expiresAt !== null && Date.parse(expiresAt) <= now) {
    throw new AppError("UNAUTHENTICATED", `API key "${id}" expired at ${expiresAt}`, {
      reason: "expired",
      key_id: id,
    });
  }
}
