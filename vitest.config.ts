import { defineConfig } from "vitest/config";

/**
 * Test files that also run on PostgreSQL (the `postgres` project): the store-heavy paths, so both engines
 * are held to the same behaviour. test/storage and test/replicas are PostgreSQL's own.
 */
const ON_BOTH_ENGINES = [
  "test/api/core-path.test.ts",
  "test/api/events-ws.test.ts",
  "test/api/events-sse.test.ts",
  "test/api/limits-and-restart.test.ts",
  "test/projects/projects.test.ts",
  "test/auth/keys.test.ts",
  "test/delivery/webhooks.test.ts",
  "test/engine/kill-recovery.test.ts",
];
const POSTGRES_ONLY = ["test/storage/**/*.test.ts", "test/replicas/**/*.test.ts"];

export default defineConfig({
  test: {
    // Tests start real servers and simulators on port 0; two cores make high parallelism counter-productive.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: { name: "sqlite", include: ["test/**/*.test.ts"], exclude: POSTGRES_ONLY },
      },
      {
        extends: true,
        test: {
          name: "postgres",
          include: [...ON_BOTH_ENGINES, ...POSTGRES_ONLY],
          // One embedded PostgreSQL for the run; each test file makes its own database in it.
          globalSetup: ["test/setup/postgres-global.ts"],
          env: { ORCH_TEST_ENGINE: "postgres" },
        },
      },
    ],
  },
});
