// The `orchestrator` command line: finds the command, builds the typed client from --url/--api-key or
// ORCHESTRATOR_URL/ORCHESTRATOR_API_KEY, runs it, and maps every outcome to a documented exit code.
import { ConnectionError, OrchestratorClient, OrchestratorError } from "../client/index.js";
import { flagValue, GLOBAL_FLAGS, hasFlag, parseArgs, UsageError } from "./args.js";
import {
  backendsCommand,
  cancelCommand,
  disableCommand,
  drainCommand,
  enableCommand,
  jobsCommand,
  statusCommand,
  workflowsCommand,
} from "./commands.js";
import { type Command, type Context, EXIT, type Output } from "./context.js";
import { submitCommand } from "./submit.js";
import { watchCommand } from "./watch.js";

const COMMANDS: Command[] = [
  submitCommand,
  statusCommand,
  jobsCommand,
  cancelCommand,
  workflowsCommand,
  backendsCommand,
  drainCommand,
  enableCommand,
  disableCommand,
  watchCommand,
];

const DEFAULT_URL = "http://localhost:8080";

const GLOBAL_HELP = `Global options:
  --url URL        the server (default: $ORCHESTRATOR_URL, else ${DEFAULT_URL})
  --api-key KEY    sent as a Bearer token (default: $ORCHESTRATOR_API_KEY)
  --json           machine-readable output on stdout
  -h, --help       help for a command

Exit codes: 0 success (a waited-for job completed), 1 the job failed or was cancelled,
2 usage error, request rejected by the server, or server unreachable.`;

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `orchestrator: run and follow image-generation jobs on an Orchestrator server

Usage: orchestrator COMMAND [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join("\n")}
  ${"help".padEnd(width)}  help for a command (orchestrator help submit)

${GLOBAL_HELP}`;
}

const commandHelp = (c: Command) =>
  `Usage: orchestrator ${c.usage}\n\n${c.summary}\n${c.details ? `\n${c.details}\n` : ""}\n${GLOBAL_HELP}`;

/** Index of the command word: the first argument that is neither a global flag nor its value. */
function commandIndex(argv: string[]): number {
  const valued = new Set(GLOBAL_FLAGS.filter((f) => f.value).map((f) => `--${f.name}`));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (valued.has(a)) i++;
    else if (!a.startsWith("-")) return i;
  }
  return -1;
}

export async function run(
  argv: string[],
  io: { out: Output; err: Output; env: NodeJS.ProcessEnv; signal: AbortSignal },
): Promise<number> {
  const at = commandIndex(argv);
  const name = at >= 0 ? argv[at] : undefined;
  const rest = at >= 0 ? [...argv.slice(0, at), ...argv.slice(at + 1)] : argv;
  try {
    if (name === undefined || name === "help") {
      const topic =
        name === "help" ? COMMANDS.find((c) => c.name === rest.find((a) => !a.startsWith("-"))) : undefined;
      const wanted = name === "help" || rest.includes("--help") || rest.includes("-h");
      if (!wanted && name === undefined) throw new UsageError("no command given");
      io.out.write(`${topic ? commandHelp(topic) : mainHelp()}\n`);
      return EXIT.OK;
    }
    const command = COMMANDS.find((c) => c.name === name);
    if (!command) throw new UsageError(`unknown command "${name}"`);
    const parsed = parseArgs(rest, command.flags, command.name);
    if (hasFlag(parsed, "help")) {
      io.out.write(`${commandHelp(command)}\n`);
      return EXIT.OK;
    }
    const baseUrl = flagValue(parsed, "url") ?? io.env.ORCHESTRATOR_URL ?? DEFAULT_URL;
    if (!/^https?:\/\/[^/]+/.test(baseUrl))
      throw new UsageError(`--url must be an http(s) URL, got "${baseUrl}"`);
    const apiKey = flagValue(parsed, "api-key") ?? (io.env.ORCHESTRATOR_API_KEY || undefined);
    const ctx: Context = {
      client: new OrchestratorClient({ baseUrl, apiKey }),
      json: hasFlag(parsed, "json"),
      out: io.out,
      err: io.err,
      signal: io.signal,
    };
    return await command.run(ctx, parsed);
  } catch (err) {
    return report(err, io.err, name);
  }
}

function report(err: unknown, out: Output, command: string | undefined): number {
  if (err instanceof UsageError) {
    const topic = err.command ?? (COMMANDS.some((c) => c.name === command) ? command : undefined);
    out.write(`error: ${err.message}\nsee: orchestrator ${topic ? `${topic} --help` : "--help"}\n`);
    return EXIT.USAGE;
  }
  if (err instanceof OrchestratorError) {
    out.write(`error: ${err.code}: ${err.message}\n`);
    for (const f of err.fields) out.write(`  ${f.field}: ${f.message}\n`);
    return EXIT.USAGE;
  }
  if (err instanceof ConnectionError) {
    out.write(`error: ${err.message}\n`);
    return EXIT.USAGE;
  }
  if ((err as Error)?.name === "AbortError") return EXIT.USAGE;
  out.write(`error: ${(err as Error)?.message ?? String(err)}\n`);
  return EXIT.USAGE;
}
