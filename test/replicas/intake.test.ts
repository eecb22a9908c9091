// Submits with two replicas on one database: an idempotency key sent to both at once yields one job, and a
// key's max_queued holds across them, although neither replica sees the other's submits in flight. Runtime
// API keys, read from the database on every request, hold on both alike.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, expectError } from "../helpers/api.js";
import type { RunningOrchestrator } from "../helpers/orchestrator.js";
import { type ReplicaSet, replicaSet, startReplica } from "../helpers/replicas.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

const KEY = {
  admin: "admin-key-0123456789abcdef",
  alice: "alice-submit-key-0123456789",
  capped: "capped-key-0123456789abcdef",
};
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
/** Slow enough to stay unfinished for the whole test. */
const slow = {
  workflow_id: "txt2img_basic",
  parameters: { prompt: "slow", steps: 150, width: 64, height: 64 },
};

let sim: Simulator;
let set: ReplicaSet;
let replicas: RunningOrchestrator[];
let sql: pg.Client;

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 20 });
  set = await replicaSet({
    backends: [{ id: "sim-1", url: sim.url, max_inflight: 1 }],
    overrides: {
      auth: {
        keys: [
          { id: "admin", key: KEY.admin, role: "admin", rate_limit_per_min: 0 },
          { id: "alice", key: KEY.alice, role: "submit", rate_limit_per_min: 0 },
          { id: "capped", key: KEY.capped, role: "submit", max_queued: 3, rate_limit_per_min: 0 },
        ],
      },
    },
  });
  replicas = [await startReplica(set, "r1"), await startReplica(set, "r2")];
  sql = new pg.Client({ connectionString: set.databaseUrl });
  await sql.connect();
});
afterAll(async () => {
  await sql?.end().catch(() => {});
  for (const r of replicas ?? []) await r.stop();
  await sim?.close();
});

/** Cancels every unfinished job, so the next test starts from an idle host. */
async function cancelAll(key: string) {
  const page = await api(
    replicas[0]!.url,
    "GET",
    "/api/jobs?status=queued,dispatching,running&limit=200",
    undefined,
    bearer(key),
  );
  for (const j of page.body.jobs)
    await api(replicas[0]!.url, "DELETE", `/api/job/${j.job_id}`, undefined, bearer(key));
}

describe("idempotency keys across replicas", () => {
  it("one key sent to both replicas many times at once makes one job", async () => {
    const KEYS = 8;
    const SENDS = 8;
    const sends = [];
    for (let k = 0; k < KEYS; k++) {
      for (let i = 0; i < SENDS; i++) {
        sends.push(
          api(replicas[i % 2]!.url, "POST", "/api/job", slow, {
            ...bearer(KEY.alice),
            "idempotency-key": `shot-${k}`,
          }).then((r) => ({ k, r })),
        );
      }
    }
    const results = await Promise.all(sends);
    for (let k = 0; k < KEYS; k++) {
      const mine = results.filter((x) => x.k === k).map((x) => x.r);
      for (const r of mine) expect([200, 202]).toContain(r.status);
      expect(new Set(mine.map((r) => r.body.job_id)).size).toBe(1);
      expect(mine.filter((r) => r.body.created === true)).toHaveLength(1);
      const rows = await sql.query("SELECT id FROM jobs WHERE idempotency_key = $1", [`shot-${k}`]);
      expect(rows.rows).toHaveLength(1);
      expect(rows.rows[0].id).toBe(mine[0]!.body.job_id);
    }
    await cancelAll(KEY.alice);
  });
});

describe("max_queued across replicas", () => {
  it("holds when one key's submits arrive at both replicas at once", async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        api(replicas[i % 2]!.url, "POST", "/api/job", slow, bearer(KEY.capped)),
      ),
    );
    expect(results.filter((r) => r.status === 202)).toHaveLength(3);
    const refused = results.filter((r) => r.status === 429);
    expect(refused).toHaveLength(7);
    for (const r of refused) expectError(r, 429, "QUOTA_EXCEEDED");
    const rows = await sql.query(
      "SELECT COUNT(*) AS n FROM jobs WHERE owner = 'capped' AND status IN ('queued', 'dispatching', 'running')",
    );
    expect(Number(rows.rows[0].n)).toBe(3);
    await cancelAll(KEY.capped);
  });
});

describe("runtime API keys across replicas", () => {
  it("a key made on one replica works on the other at once, and a revoke on either holds on both", async () => {
    const [r1, r2] = replicas as [RunningOrchestrator, RunningOrchestrator];
    const made = await api(r1.url, "POST", "/api/keys", { id: "script", role: "read" }, bearer(KEY.admin));
    expect(made.status).toBe(201);
    const key = made.body.key as string;
    expect((await api(r2.url, "GET", "/api/jobs", undefined, bearer(key))).status).toBe(200);
    expect((await api(r2.url, "DELETE", "/api/keys/script", undefined, bearer(KEY.admin))).status).toBe(200);
    for (const r of [r1, r2]) {
      const refused = await api(r.url, "GET", "/api/jobs", undefined, bearer(key));
      expectError(refused, 401, "UNAUTHENTICATED");
      expect(refused.body.error.details.reason).toBe("revoked");
    }
  });
});
