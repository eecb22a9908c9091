// Headless Chromium for browser tests: Debian's `chromium` driven by playwright-core. When it is missing the
// set-up installs it (as root, with apt-get, once per machine: concurrent test files wait on a lock), or
// fails saying exactly what is missing and how to get it.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { type BrowserContext, chromium } from "playwright-core";
import { REPO } from "./orchestrator.js";

const run = promisify(execFile);
const CANDIDATES = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"].filter(
  (p): p is string => Boolean(p),
);
/** apt-get update and the install of chromium with its libraries can take minutes on a fresh machine. */
export const BROWSER_SETUP_TIMEOUT_MS = 15 * 60_000;
const LOCK = path.join(os.tmpdir(), "orchestrator-chromium-install.lock");
export const ARTIFACTS = path.join(REPO, "test-artifacts", "console");

function findChromium(): string | null {
  return CANDIDATES.find((p) => existsSync(p)) ?? null;
}

/** Path of a Chromium binary, installing Debian's package first if there is none. */
export async function ensureChromium(): Promise<string> {
  const found = findChromium();
  if (found) return found;
  const deadline = Date.now() + BROWSER_SETUP_TIMEOUT_MS;
  // mkdir is atomic: one test file installs, the others wait for it.
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      const since = statSync(LOCK, { throwIfNoEntry: false })?.mtimeMs ?? Date.now();
      const stale = Date.now() - since > BROWSER_SETUP_TIMEOUT_MS;
      if (stale) rmSync(LOCK, { recursive: true, force: true });
      if (Date.now() > deadline)
        throw new Error("timed out waiting for another test file installing chromium");
      await new Promise((r) => setTimeout(r, 1000));
      const now = findChromium();
      if (now) return now;
    }
  }
  try {
    const again = findChromium();
    if (again) return again;
    if (process.platform !== "linux" || !existsSync("/usr/bin/apt-get"))
      throw missing("this is not a Debian/Ubuntu machine (no apt-get)");
    if (process.getuid?.() !== 0)
      throw missing("installing it needs root (these tests run as a normal user)");
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const opts = { env, timeout: BROWSER_SETUP_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 };
    try {
      await run("apt-get", ["update"], opts);
      await run("apt-get", ["install", "-y", "--no-install-recommends", "chromium"], opts);
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw missing(`apt-get failed: ${(e.stderr || e.message).trim().split("\n").slice(-3).join(" | ")}`);
    }
    const installed = findChromium();
    if (!installed) throw missing("apt-get install chromium succeeded but no binary is at /usr/bin/chromium");
    return installed;
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

function missing(why: string): Error {
  return new Error(
    `Browser tests need Chromium, which is not installed: ${why}. ` +
      "Install it with `sudo apt-get update && sudo apt-get install -y chromium`, " +
      "or point CHROMIUM_PATH at a Chromium/Chrome binary.",
  );
}

export interface TestBrowser {
  /** The browser's one context (a persistent one: that is how Playwright takes a --user-data-dir). */
  context: BrowserContext;
  close(): Promise<void>;
}

/** One headless Chromium with a fresh profile, its background traffic off (this network refuses it). */
export async function launchBrowser(): Promise<TestBrowser> {
  const executablePath = await ensureChromium();
  const profile = mkdtempSync(path.join(os.tmpdir(), "orch-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    timeout: 60_000,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1280, height: 860 },
  });
  mkdirSync(ARTIFACTS, { recursive: true });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
