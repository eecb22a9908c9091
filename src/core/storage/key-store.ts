// API keys made at runtime (POST /api/keys). Only the sha256 of a key is stored; revoking keeps the row
// (with revoked_at) so the list shows what existed and an id is never reused for another key.

import type { Role } from "../../config-auth.js";
import type { SqlDatabase } from "./sql.js";

export interface StoredKey {
  id: string;
  name: string | null;
  role: Role;
  key_sha256: string;
  rate_limit_per_min: number | null;
  max_queued: number | null;
  created_at: string;
  created_by: string | null;
  expires_at: string | null;
  revoked_at: string | null;
}

export class KeyStore {
  private readonly stmts;

  constructor(db: SqlDatabase) {
    this.stmts = {
      insert: db.prepare(`INSERT INTO api_keys (id, name, role, key_sha256, rate_limit_per_min, max_queued,
        created_at, created_by, expires_at, revoked_at) VALUES (@id, @name, @role, @key_sha256,
        @rate_limit_per_min, @max_queued, @created_at, @created_by, @expires_at, @revoked_at)`),
      get: db.prepare("SELECT * FROM api_keys WHERE id = ?"),
      byHash: db.prepare("SELECT * FROM api_keys WHERE key_sha256 = ?"),
      list: db.prepare("SELECT * FROM api_keys ORDER BY created_at, id"),
      revoke: db.prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"),
    };
  }

  /** False when the id is taken (by a live or a revoked key). */
  insert(k: StoredKey): boolean {
    try {
      this.stmts.insert.run(k);
      return true;
    } catch (err) {
      const code = (err as { code?: string }).code;
      // A taken id: SQLite's primary-key error or PostgreSQL's unique_violation.
      if (code === "SQLITE_CONSTRAINT_PRIMARYKEY" || code === "23505") return false;
      throw err;
    }
  }

  get(id: string): StoredKey | null {
    return (this.stmts.get.get(id) as StoredKey | undefined) ?? null;
  }

  /** The key whose hash this is, revoked or not (the caller decides what a revoked key means). */
  byHash(sha256Hex: string): StoredKey | null {
    return (this.stmts.byHash.get(sha256Hex) as StoredKey | undefined) ?? null;
  }

  list(): StoredKey[] {
    return this.stmts.list.all() as StoredKey[];
  }

  revoke(id: string, at: string): boolean {
    return this.stmts.revoke.run(at, id).changes === 1;
  }
}
