// `${ENV_VAR}` in any config value, so secrets (API keys, host credentials) need not sit in config.yaml.
// An unset variable stops start-up naming both the key and the variable.
import { formatKeyPath } from "./config-path.js";

const REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const WHOLE_REF = /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/;

export interface Expanded {
  value: unknown;
  /** Key paths (as formatKeyPath writes them) whose whole value was one reference: maybe a number or boolean. */
  whole: Set<string>;
  problems: string[];
}

export function expandEnv(raw: unknown, env: NodeJS.ProcessEnv): Expanded {
  const whole = new Set<string>();
  const problems: string[] = [];
  const walk = (v: unknown, at: (string | number)[]): unknown => {
    if (typeof v === "string") {
      if (!v.includes("${")) return v;
      if (WHOLE_REF.test(v)) whole.add(formatKeyPath(at));
      return v.replace(REF, (_m, name: string) => {
        const value = env[name];
        if (value === undefined) {
          problems.push(`${formatKeyPath(at)}: environment variable ${name} is not set`);
          return "";
        }
        return value;
      });
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...at, i]));
    if (v && typeof v === "object") {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, [...at, k])]));
    }
    return v;
  };
  return { value: walk(raw, []), whole, problems };
}

/**
 * A whole-value reference is a string after expansion; where the schema wanted a number or a boolean
 * (`port: ${PORT}`), this turns it into one. Returns false when there was nothing to convert.
 */
export function coerceAt(root: unknown, path: readonly PropertyKey[], expected: string): boolean {
  let parent = root as Record<PropertyKey, unknown>;
  for (const k of path.slice(0, -1)) {
    parent = parent?.[k] as Record<PropertyKey, unknown>;
    if (!parent || typeof parent !== "object") return false;
  }
  const last = path[path.length - 1];
  if (last === undefined) return false;
  const v = parent[last];
  if (typeof v !== "string") return false;
  if (expected === "number" && v.trim() !== "" && Number.isFinite(Number(v))) parent[last] = Number(v);
  else if (expected === "boolean" && (v === "true" || v === "false")) parent[last] = v === "true";
  else return false;
  return true;
}
