// A short chaos run in the suite; `npm run chaos -- --minutes N` runs it for longer.
import { describe, expect, it } from "vitest";
import { runChaos } from "./chaos.js";

describe("chaos", () => {
  it("loses no accepted job while hosts crash and the Orchestrator is killed", async () => {
    const r = await runChaos({ seconds: 8 });
    expect(r.accepted).toBeGreaterThan(0);
    expect(r.lost).toBe(0);
    expect(r.completed).toBeGreaterThan(0);
  }, 120_000);
});
