// Every process the bench starts, in one registry, so that none outlives it: a normal end, an error,
// SIGINT and SIGTERM all kill what is left and remove the bench's temp folder.
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export const REPO = path.resolve(import.meta.dirname, "../..");

const live = new Set<ChildProcess>();
let spawned = 0;
let tempRoot: string | null = null;
let keepTemp = false;

/** The bench's own folder under os.tmpdir(), made on first use and removed at exit. */
export function benchTempDir(): string {
  tempRoot ??= mkdtempSync(path.join(os.tmpdir(), "orch-bench-"));
  return tempRoot;
}

export function keepTempDir(keep: boolean): void {
  keepTemp = keep;
}

export function killAll(): void {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  live.clear();
  if (tempRoot && !keepTemp) rmSync(tempRoot, { recursive: true, force: true });
  tempRoot = null;
}

let installed = false;
/** Kills the children on every way out of this process. */
export function installCleanup(): void {
  if (installed) return;
  installed = true;
  process.on("exit", killAll);
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping children\n`);
      killAll();
      process.exit(130);
    });
  }
}

export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly proc: ChildProcess;
  readonly logFile: string;
  readonly exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it is gone. */
  stop(graceMs?: number): Promise<void>;
  kill(): Promise<void>;
  logTail(chars?: number): string;
}

/** Runs a TypeScript file in its own Node process (tsx loaded in-process, so `pid` is the program itself). */
export function spawnTs(name: string, file: string, args: string[], o: { nodeArgs?: string[] } = {}): Child {
  // One file per process: waitForLine must never see an earlier process's lines.
  const logFile = path.join(benchTempDir(), `${name}-${++spawned}.log`);
  const fd = openSync(logFile, "w");
  const proc = spawn(process.execPath, [...(o.nodeArgs ?? []), "--import", "tsx", file, ...args], {
    cwd: REPO,
    stdio: ["ignore", fd, fd],
  });
  closeSync(fd);
  live.add(proc);
  const exited = new Promise<number | null>((resolve) =>
    proc.once("exit", (code) => {
      live.delete(proc);
      resolve(code);
    }),
  );
  const gone = () => proc.exitCode !== null || proc.signalCode !== null;
  const child: Child = {
    name,
    pid: proc.pid!,
    proc,
    logFile,
    exited,
    async stop(graceMs = 15_000) {
      if (gone()) return;
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      if (gone()) return;
      proc.kill("SIGKILL");
      await exited;
    },
    logTail(chars = 2000) {
      try {
        return readFileSync(logFile, "utf8").slice(-chars);
      } catch {
        return "";
      }
    },
  };
  return child;
}

/**
 * A port nothing listened on a moment ago, for a backend that must stay unreachable. Servers the bench starts
 * bind port 0 and announce their port instead: a probed port can be taken by another process before the
 * child binds it, and then the bench would talk to a stranger.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Polls `probe` every `everyMs` until it returns true; fails if the child exits or time runs out. */
export async function waitUntil(
  child: Child,
  probe: () => Promise<boolean>,
  o: { timeoutMs: number; everyMs?: number; what: string },
): Promise<void> {
  const deadline = Date.now() + o.timeoutMs;
  let exited = false;
  void child.exited.then(() => {
    exited = true;
  });
  for (;;) {
    if (exited) throw new Error(`${child.name} exited before ${o.what}:\n${child.logTail()}`);
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline)
      throw new Error(`${child.name}: timed out waiting for ${o.what}:\n${child.logTail()}`);
    await new Promise((r) => setTimeout(r, o.everyMs ?? 20));
  }
}

/** Waits for a line matching `pattern` in the child's output and returns the match. */
export async function waitForLine(
  child: Child,
  pattern: RegExp,
  o: { timeoutMs: number; everyMs?: number; what: string },
): Promise<RegExpExecArray> {
  let match: RegExpExecArray | null = null;
  await waitUntil(
    child,
    async () => {
      match = pattern.exec(child.logTail(Number.MAX_SAFE_INTEGER));
      return match !== null;
    },
    o,
  );
  return match!;
}
