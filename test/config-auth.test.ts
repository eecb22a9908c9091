// Config for access control: ${ENV_VAR} in any value (with a start-up error naming key and variable when
// unset), key entries, CORS origins and host credentials, each problem naming its key.
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are config values, not templates
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseConfig } from "../src/config.js";
import { REPO } from "./helpers/orchestrator.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "orch-config-auth-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function problems(raw: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(raw, "c.yaml", dir, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe("${ENV_VAR} expansion", () => {
  it("works in any value, numbers and booleans included", () => {
    const c = parseConfig(
      {
        server: { port: "${PORT}", public_url: "https://${HOST}:8443" },
        auth: { keys: [{ id: "ci", key: "${CI_KEY}", role: "submit" }] },
        backends: [
          { id: "a", host: "h", tls: "${TLS}", headers: { Authorization: "Bearer ${PROXY_TOKEN}" } },
        ],
      },
      "c.yaml",
      dir,
      { PORT: "9090", HOST: "orch.lan", CI_KEY: "ci-key-0123456789abcdef", TLS: "true", PROXY_TOKEN: "t0k" },
    );
    expect(c.server.port).toBe(9090);
    expect(c.server.public_url).toBe("https://orch.lan:8443");
    expect(c.auth.keys[0]!.key).toBe("ci-key-0123456789abcdef");
    expect(c.backends[0]!.tls).toBe(true);
    expect(c.backends[0]!.headers).toEqual({ Authorization: "Bearer t0k" });
  });

  it("an unset variable is a problem naming the key and the variable", () => {
    expect(problems({ auth: { keys: [{ id: "ci", key: "${CI_KEY}", role: "submit" }] } })).toEqual([
      "auth.keys[0].key: environment variable CI_KEY is not set",
    ]);
    // A set value that is wrong for its key is reported against the key, as if written in the file.
    expect(problems({ server: { port: "${PORT}" } }, { PORT: "eighty" })).toEqual([
      'server.port: expected integer 0..65535, got "eighty"',
    ]);
  });

  it("stops start-up with exit code 1 and that message", () => {
    const file = path.join(dir, "env.yaml");
    writeFileSync(
      file,
      "auth:\n  keys:\n    - id: ops\n      key: ${ORCH_TEST_UNSET_KEY}\n      role: admin\n",
    );
    const env = { ...process.env };
    delete env.ORCH_TEST_UNSET_KEY;
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", path.join(REPO, "src", "main.ts"), "--config", file],
      { cwd: REPO, encoding: "utf8", timeout: 30_000, env },
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("auth.keys[0].key: environment variable ORCH_TEST_UNSET_KEY is not set");
  });

  it("loadConfig reads the process environment", () => {
    const file = path.join(dir, "env-ok.yaml");
    writeFileSync(file, "server:\n  port: ${ORCH_TEST_PORT}\n");
    process.env.ORCH_TEST_PORT = "8111";
    try {
      expect(loadConfig(file).server.port).toBe(8111);
    } finally {
      delete process.env.ORCH_TEST_PORT;
    }
  });
});

describe("auth, CORS and host credentials", () => {
  it("names the key of every problem", () => {
    const p = problems({
      server: { cors_origins: ["https://ok.example", "https://bad.example/path", "nope"] },
      auth: {
        keys: [
          { id: "a", key: "short", role: "admin" },
          { id: "a", key_sha256: "xyz", role: "read" },
          { id: "b", role: "root" },
          { id: "c", key: "c-key-0123456789abcdef", key_sha256: "0".repeat(64), role: "read" },
          { id: "d", key: "has spaces 0123456789", role: "read" },
        ],
      },
      backends: [
        { id: "x", host: "h", headers: { "Bad Header": "v" } },
        { id: "z", host: "h", headers: { Host: "other" } },
        { id: "w", host: "h", headers: { "X-Token": "a\r\nX-Injected: 1" } },
      ],
    });
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^server\.cors_origins\[1\]: expected an origin/),
        expect.stringMatching(/^server\.cors_origins\[2\]: expected an origin/),
        expect.stringMatching(/^auth\.keys\[0\]\.key: expected 16-512 characters/),
        expect.stringMatching(/^auth\.keys\[1\]\.key_sha256: expected the 64 hex digits/),
        expect.stringMatching(/^auth\.keys\[2\]\.role: /),
        'auth.keys[3].key: give exactly one of "key" or "key_sha256"',
        expect.stringMatching(/^auth\.keys\[4\]\.key: expected 16-512 characters/),
        expect.stringMatching(/^backends\[0\]\.headers\.Bad Header: expected an HTTP header name/),
        expect.stringMatching(/^backends\[1\]\.headers\.Host: this header is set by Orchestrator itself/),
        "backends[2].headers.X-Token: a header value cannot contain line breaks or NUL",
      ]),
    );
    expect(
      problems({
        backends: [
          {
            id: "y",
            host: "h",
            basic_auth: { username: "u", password: "p" },
            headers: { authorization: "t" },
          },
        ],
      }),
    ).toEqual(["backends[0].basic_auth: give either basic_auth or an Authorization header, not both"]);
  });

  it("finds duplicate key ids and fills the limit defaults", () => {
    expect(
      problems({
        auth: {
          keys: [
            { id: "a", key: "a-key-0123456789abcdef", role: "read" },
            { id: "a", key: "b-key-0123456789abcdef", role: "read" },
          ],
        },
      }),
    ).toEqual(['auth.keys[1].id: duplicate id "a" (also auth.keys[0])']);
    const c = parseConfig({}, "c.yaml", dir, {});
    expect(c.auth).toEqual({ keys: [], defaults: { rate_limit_per_min: 1200, max_queued: 1000 } });
    expect(c.server.cors_origins).toEqual([]);
  });
});
