// The `Range` header of a download, read against the file's size (RFC 9110 §14). One byte range is served
// as 206; a header we do not serve (another unit, several ranges, bad syntax) is ignored, which the RFC
// allows, and the whole file goes out as 200.
export type ByteRange =
  | { kind: "full" }
  | { kind: "partial"; start: number; end: number }
  | { kind: "unsatisfiable" };

const SINGLE = /^bytes=(\d*)-(\d*)$/;

export function parseByteRange(header: string | undefined, size: number): ByteRange {
  const m = header === undefined ? null : SINGLE.exec(header.trim());
  if (!m) return { kind: "full" };
  const [first, last] = [m[1]!, m[2]!];
  if (first === "") {
    // "bytes=-N": the last N bytes.
    if (last === "") return { kind: "full" };
    const n = Number(last);
    if (n === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "partial", start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(first);
  // "bytes=9-5" is invalid syntax (ignored); a valid range starting past the end cannot be served.
  if (last !== "" && Number(last) < start) return { kind: "full" };
  if (start >= size) return { kind: "unsatisfiable" };
  return { kind: "partial", start, end: last === "" ? size - 1 : Math.min(Number(last), size - 1) };
}
