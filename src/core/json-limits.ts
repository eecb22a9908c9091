// Limits on client JSON we store and send back (metadata, parameters). Checked without recursion, so a
// value nested far beyond the limit is refused instead of overflowing the stack of whoever reads it.

/** Deepest nesting of arrays/objects accepted inside `metadata` or one parameter value. */
export const MAX_JSON_DEPTH = 32;
/** Largest `metadata`, serialised. */
export const MAX_METADATA_BYTES = 64 * 1024;

/** How deep `value` nests, counting stops at `limit + 1` (so the walk is bounded too). */
export function jsonDepth(value: unknown, limit = MAX_JSON_DEPTH): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    const d = depth + 1;
    if (d > max) max = d;
    if (max > limit) return max;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, d]);
  }
  return max;
}

/** Why `value` cannot be stored as client JSON, or null. */
export function jsonProblem(value: unknown, maxBytes?: number): string | null {
  if (jsonDepth(value) > MAX_JSON_DEPTH) return `nested deeper than ${MAX_JSON_DEPTH} levels`;
  if (maxBytes !== undefined) {
    const size = Buffer.byteLength(JSON.stringify(value) ?? "");
    if (size > maxBytes) return `is ${size} bytes serialised, the limit is ${maxBytes}`;
  }
  return null;
}

/**
 * A stored value made safe to send: rows written before these limits existed may nest deeper than any
 * serialiser can follow, and one such row must not break every list that contains it.
 */
export function readableJson<T>(value: T): T | { unreadable: string } {
  return jsonDepth(value) > MAX_JSON_DEPTH
    ? { unreadable: `stored value nested deeper than ${MAX_JSON_DEPTH} levels` }
    : value;
}
