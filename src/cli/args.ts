// A small argv parser for the CLI: positionals plus the flags a command declares; anything else is a
// usage error (exit 2) naming the flag.
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
    this.name = "UsageError";
  }
}

export interface FlagSpec {
  /** Long name without dashes, e.g. "priority". */
  name: string;
  alias?: string;
  /** Takes a value (`--priority 5` or `--priority=5`); otherwise a boolean switch. */
  value?: boolean;
  /** May be given more than once (values collect into a list). */
  repeat?: boolean;
}

export interface Parsed {
  positionals: string[];
  flags: Map<string, string[] | true>;
}

export const GLOBAL_FLAGS: FlagSpec[] = [
  { name: "url", value: true },
  { name: "api-key", value: true },
  { name: "json" },
  { name: "help", alias: "h" },
];

export function parseArgs(argv: string[], specs: FlagSpec[], command?: string): Parsed {
  const all = [...GLOBAL_FLAGS, ...specs];
  const byName = new Map<string, FlagSpec>();
  for (const s of all) {
    byName.set(`--${s.name}`, s);
    if (s.alias) byName.set(`-${s.alias}`, s);
  }
  const positionals: string[] = [];
  const flags = new Map<string, string[] | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const key = eq > 0 && arg.startsWith("--") ? arg.slice(0, eq) : arg;
    const spec = byName.get(key);
    if (!spec) throw new UsageError(`unknown option ${key}`, command);
    if (!spec.value) {
      if (eq > 0 && arg.startsWith("--")) throw new UsageError(`${key} takes no value`, command);
      flags.set(spec.name, true);
      continue;
    }
    const value = eq > 0 && arg.startsWith("--") ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new UsageError(`${key} needs a value`, command);
    const prev = flags.get(spec.name);
    if (prev !== undefined && !spec.repeat) throw new UsageError(`${key} given twice`, command);
    flags.set(spec.name, [...(Array.isArray(prev) ? prev : []), value]);
  }
  return { positionals, flags };
}

export const flagValue = (p: Parsed, name: string): string | undefined => {
  const v = p.flags.get(name);
  return Array.isArray(v) ? v[v.length - 1] : undefined;
};
export const flagValues = (p: Parsed, name: string): string[] => {
  const v = p.flags.get(name);
  return Array.isArray(v) ? v : [];
};
export const hasFlag = (p: Parsed, name: string): boolean => p.flags.has(name);

export function intFlag(p: Parsed, name: string, command: string): number | undefined {
  const raw = flagValue(p, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new UsageError(`--${name} expects an integer, got "${raw}"`, command);
  return n;
}
