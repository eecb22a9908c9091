// The Range header parser on its own: which headers give a part, the whole file, or a 416.
import { describe, expect, it } from "vitest";
import { parseByteRange } from "../../src/api/byte-range.js";

describe("parseByteRange", () => {
  it.each([
    ["bytes=0-0", 10, { kind: "partial", start: 0, end: 0 }],
    ["bytes=2-", 10, { kind: "partial", start: 2, end: 9 }],
    ["bytes=-3", 10, { kind: "partial", start: 7, end: 9 }],
    ["bytes=-30", 10, { kind: "partial", start: 0, end: 9 }],
    ["bytes=5-500", 10, { kind: "partial", start: 5, end: 9 }],
    [" bytes=1-2 ", 10, { kind: "partial", start: 1, end: 2 }],
  ])("%s of %i bytes is a part", (header, size, expected) => {
    expect(parseByteRange(header, size)).toEqual(expected);
  });

  it.each([
    ["bytes=10-", 10],
    ["bytes=10-20", 10],
    ["bytes=-0", 10],
    ["bytes=0-", 0],
    ["bytes=-5", 0],
  ])("%s of %i bytes cannot be served", (header, size) => {
    expect(parseByteRange(header, size)).toEqual({ kind: "unsatisfiable" });
  });

  it.each([
    undefined,
    "",
    "bytes=",
    "bytes=-",
    "bytes=5-2",
    "bytes=0-1,3-4",
    "items=0-1",
    "bytes=a-b",
    "bytes=1.5-2",
  ])("%s is ignored: the whole file", (header) => {
    expect(parseByteRange(header, 10)).toEqual({ kind: "full" });
  });
});
