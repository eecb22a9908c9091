// Python semantics the simulator must reproduce byte for byte: json.dumps' layout, repr()/str() of values
// quoted in ComfyUI's error details, and int()/float() conversions applied during prompt validation.

/** An exception as Python would raise it; `pyType` is what ComfyUI's full_type_name() reports. */
export class PyException extends Error {
  constructor(
    readonly pyType: string,
    message: string,
  ) {
    super(message);
  }
}

/** A value that prints itself the way the Python object would (model handles, tensors). */
export interface PyObject {
  readonly pyRepr: string;
}

function isPyObject(v: unknown): v is PyObject {
  return typeof v === "object" && v !== null && typeof (v as { pyRepr?: unknown }).pyRepr === "string";
}

/** json.dumps(v) with default separators (", " and ": ") and ensure_ascii, as aiohttp sends it. */
export function pyDumps(v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number") {
    if (Number.isNaN(v)) return "NaN";
    if (!Number.isFinite(v)) return v > 0 ? "Infinity" : "-Infinity";
    return String(v);
  }
  if (typeof v === "string") return asciiJsonString(v);
  if (Array.isArray(v)) return `[${v.map((x) => pyDumps(x)).join(", ")}]`;
  if (typeof v === "object") {
    const parts: string[] = [];
    for (const [k, x] of Object.entries(v)) {
      if (x !== undefined) parts.push(`${asciiJsonString(k)}: ${pyDumps(x)}`);
    }
    return `{${parts.join(", ")}}`;
  }
  return asciiJsonString(String(v));
}

function asciiJsonString(s: string): string {
  // JSON.stringify already escapes controls; Python additionally escapes everything outside space..tilde.
  return JSON.stringify(s).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Python str() of a float. */
export function pyFloatStr(v: number): string {
  if (Number.isNaN(v)) return "nan";
  if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
  const abs = Math.abs(v);
  if (abs !== 0 && (abs >= 1e16 || abs < 1e-4)) {
    return v.toExponential().replace(/e([+-])(\d)$/, "e$10$2");
  }
  return Number.isInteger(v) ? `${v}.0` : String(v);
}

/** Python repr(); numbers are treated as ints when integral (JSON cannot tell 1 from 1.0). */
export function pyRepr(v: unknown): string {
  if (v === null || v === undefined) return "None";
  if (typeof v === "boolean") return v ? "True" : "False";
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : pyFloatStr(v);
  if (typeof v === "string") return pyStrRepr(v);
  if (Array.isArray(v)) return `[${v.map((x) => pyRepr(x)).join(", ")}]`;
  if (isPyObject(v)) return v.pyRepr;
  if (typeof v === "object") {
    return `{${Object.entries(v)
      .map(([k, x]) => `${pyStrRepr(k)}: ${pyRepr(x)}`)
      .join(", ")}}`;
  }
  return String(v);
}

/** Python str(): strings print raw, everything else as repr. */
export function pyStr(v: unknown): string {
  return typeof v === "string" ? v : pyRepr(v);
}

function pyStrRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    if (ch === "\\") out += "\\\\";
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (ch < " " || ch === "\x7f") out += `\\x${ch.charCodeAt(0).toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return out + quote;
}

function pyTypeName(v: unknown): string {
  if (v === null || v === undefined) return "NoneType";
  if (Array.isArray(v)) return "list";
  if (typeof v === "object") return "dict";
  return typeof v;
}

/** int(v): truncates floats and accepts integer literals in strings, like Python. */
export function pyInt(v: unknown): number {
  if (typeof v === "boolean") return v ? 1 : 0;
  if (typeof v === "number") {
    if (Number.isNaN(v)) throw new PyException("ValueError", "cannot convert float NaN to integer");
    if (!Number.isFinite(v))
      throw new PyException("OverflowError", "cannot convert float infinity to integer");
    return Math.trunc(v);
  }
  if (typeof v === "string") {
    const t = v.trim();
    if (/^[+-]?\d(_?\d)*$/.test(t)) return Number(t.replaceAll("_", ""));
    throw new PyException("ValueError", `invalid literal for int() with base 10: ${pyStrRepr(v)}`);
  }
  throw new PyException(
    "TypeError",
    `int() argument must be a string, a bytes-like object or a real number, not '${pyTypeName(v)}'`,
  );
}

/** float(v), including Python's spellings of inf and nan. */
export function pyFloat(v: unknown): number {
  if (typeof v === "boolean") return v ? 1 : 0;
  if (typeof v === "number") return v;
  if (typeof v === "string") {
    const t = v.trim().replaceAll(/(\d)_(?=\d)/g, "$1");
    if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t)) return Number(t);
    const special = /^([+-]?)(inf|infinity|nan)$/i.exec(t);
    if (special) {
      if (special[2]?.toLowerCase() === "nan") return Number.NaN;
      return special[1] === "-" ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
    }
    throw new PyException("ValueError", `could not convert string to float: ${pyStrRepr(v)}`);
  }
  throw new PyException(
    "TypeError",
    `float() argument must be a string or a real number, not '${pyTypeName(v)}'`,
  );
}

/** bool(v). */
export function pyBool(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "object" && v !== null) return Object.keys(v).length > 0;
  return Boolean(v);
}
