// Issue #20's chaos run in the suite: 3 replicas on one PostgreSQL, 3 hosts, 300 jobs, replicas SIGKILLed
// and hosts crashed meanwhile. `npm run chaos -- --replicas 3 --postgres` runs it outside vitest.
import { describe, expect, it } from "vitest";
import { runReplicaChaos } from "../chaos/chaos-replicas.js";
import { createTestDatabase } from "../helpers/postgres.js";

describe("chaos across replicas", () => {
  it("loses no job, runs none twice at once, and serves every output from every replica", async () => {
    const r = await runReplicaChaos({
      databaseUrl: await createTestDatabase(),
      replicas: 3,
      hosts: 3,
      jobs: 300,
      seconds: 15,
      leaseS: 2,
      settleS: 60,
    });
    expect(r.driverKills).toBeGreaterThan(0);
    expect(r.hostCrashes).toBeGreaterThan(0);
    expect(r.unexpectedExits).toEqual([]);
    expect(r.accepted).toBe(300);
    expect(r.lost).toEqual([]);
    expect(r.overlaps).toEqual([]);
    // One replica drives each host: never more of our prompts on it than its max_inflight (2 by default).
    expect(r.maxHostQueue).toBeLessThanOrEqual(2);
    expect(r.disagreements).toEqual([]);
    expect(r.completed).toBeGreaterThan(250);
    expect(r.downloadFailures).toEqual([]);
    expect(r.downloadsChecked).toBeGreaterThanOrEqual(3 * r.completed);
  }, 180_000);
});
