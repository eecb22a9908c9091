// What every CLI command gets: the typed client, the output mode, and where to write.
import type { OrchestratorClient } from "../client/index.js";
import type { FlagSpec, Parsed } from "./args.js";

export interface Output {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface Context {
  client: OrchestratorClient;
  /** --json: one JSON document on stdout, for scripts. */
  json: boolean;
  out: Output;
  err: Output;
  /** Ends long-running commands (watch, wait) on Ctrl-C. */
  signal: AbortSignal;
}

/** Exit codes, documented in the README and in `orchestrator --help`. */
export const EXIT = { OK: 0, JOB_FAILED: 1, USAGE: 2 } as const;

export interface Command {
  name: string;
  usage: string;
  summary: string;
  /** Longer help: flags and examples. */
  details: string;
  flags: FlagSpec[];
  run(ctx: Context, p: Parsed): Promise<number>;
}

export const printJson = (ctx: Context, value: unknown) =>
  ctx.out.write(`${JSON.stringify(value, null, 2)}\n`);
