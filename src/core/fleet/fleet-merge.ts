// The merge rule between config.yaml's hosts and the fleet rows in SQLite, used at start-up and on every
// reload (documented in README, "Changing the fleet"):
//  - A host listed in config.yaml is defined by the file. An API change to it (PATCH, drain, disable,
//    enable, DELETE) holds across restarts and reloads until that host's entry in the file is edited; then
//    the file wins and the stored change is dropped.
//  - A host added through the API lives in SQLite only. If config.yaml later lists the same id, the file wins.
//  - A host that left config.yaml while jobs ran on it drains first, even across a restart.
import { createHash } from "node:crypto";
import type { BackendConfig } from "../../config.js";
import type { BackendOrigin, BackendRow } from "./backend-store.js";

export interface DesiredHost {
  config: BackendConfig;
  origin: BackendOrigin;
  enabled: boolean;
  draining: boolean;
  removing: boolean;
}

export interface MergeResult {
  hosts: DesiredHost[];
  /** Rows that no longer apply, with why (logged, then deleted). */
  stale: { id: string; reason: string }[];
}

/** Identity of a config.yaml entry: an API change is tied to the entry it was made against. */
export function configHash(b: BackendConfig): string {
  const sorted = Object.fromEntries(Object.entries(b).sort(([a], [c]) => a.localeCompare(c)));
  return createHash("sha256").update(JSON.stringify(sorted)).digest("hex").slice(0, 16);
}

export function mergeFleet(file: readonly BackendConfig[], rows: readonly BackendRow[]): MergeResult {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const hosts: DesiredHost[] = [];
  const stale: MergeResult["stale"] = [];
  const listed = new Set<string>();
  for (const c of file) {
    listed.add(c.id);
    const row = byId.get(c.id);
    const plain = {
      config: c,
      origin: "config" as const,
      enabled: c.enabled,
      draining: false,
      removing: false,
    };
    if (!row) {
      hosts.push(plain);
      continue;
    }
    if (row.origin !== "config" || row.config_hash !== configHash(c)) {
      stale.push({
        id: c.id,
        reason:
          row.origin === "api"
            ? "config.yaml now lists this id: the file's entry replaces the host added through the API"
            : "its entry in config.yaml changed: the file's values replace the API's changes",
      });
      hosts.push(plain);
      continue;
    }
    if (row.removed) continue;
    const config = { ...c, ...row.definition, id: c.id };
    hosts.push({
      config,
      origin: "config",
      enabled: row.enabled ?? config.enabled,
      draining: row.draining || row.removing,
      removing: row.removing,
    });
  }
  for (const row of rows) {
    if (listed.has(row.id)) continue;
    if (row.origin === "config") {
      stale.push({ id: row.id, reason: "the host is no longer in config.yaml" });
      continue;
    }
    const config = row.definition as BackendConfig;
    hosts.push({
      config,
      origin: row.origin,
      enabled: row.enabled ?? config.enabled,
      draining: row.draining || row.removing,
      removing: row.removing,
    });
  }
  return { hosts, stale };
}
