// Turns the value of an `image` parameter into checked bytes: a base64 string or data: URL, or
// `job:<job_id>/<filename>` (an output of an earlier job). Bytes are checked by magic number and size.
import { readFile } from "node:fs/promises";
import { AppError } from "../../errors.js";
import type { FileStore } from "../storage/file-store.js";

export interface ImageBytes {
  bytes: Buffer;
  contentType: string;
  ext: string;
}

const FORMATS: { ext: string; type: string; test: (b: Buffer) => boolean }[] = [
  {
    ext: "png",
    type: "image/png",
    test: (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  },
  { ext: "jpg", type: "image/jpeg", test: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  {
    ext: "webp",
    type: "image/webp",
    test: (b) => b.toString("latin1", 0, 4) === "RIFF" && b.toString("latin1", 8, 12) === "WEBP",
  },
  { ext: "gif", type: "image/gif", test: (b) => /^GIF8[79]a$/.test(b.toString("latin1", 0, 6)) },
];

export function sniffImage(bytes: Buffer): { ext: string; type: string } | null {
  return FORMATS.find((f) => f.test(bytes)) ?? null;
}

export interface ImageSourceContext {
  files: FileStore;
  /** Whether `jobId` recorded an output named `filename` (a folder on disk proves nothing). */
  hasOutput: (jobId: string, filename: string) => boolean;
  maxBytes: number;
  /** Fetches an http(s) URL under the configured limits; absent when URL inputs are not enabled. */
  fetchUrl?: (url: string, field: string) => Promise<Buffer>;
}

export async function resolveImage(
  value: string,
  field: string,
  ctx: ImageSourceContext,
): Promise<ImageBytes> {
  const fail = (message: string) => new AppError("MEDIA_INVALID", `${field}: ${message}`, { field, message });
  let bytes: Buffer;
  if (value.startsWith("job:")) {
    const m = /^job:([^/]+)\/(.+)$/.exec(value);
    const file = m ? ctx.files.resolve("outputs", m[1]!, m[2]!) : null;
    if (!file) throw fail('expected "job:<job_id>/<filename>"');
    if (!ctx.hasOutput(m![1]!, m![2]!)) throw fail(`job ${m![1]} has no recorded output "${m![2]}"`);
    bytes = await readFile(file).catch(() => {
      throw fail(`no output "${m![2]}" of job ${m![1]} is stored here`);
    });
  } else if (/^https?:\/\//i.test(value)) {
    if (!ctx.fetchUrl) throw fail("image URLs are not enabled on this server");
    bytes = await ctx.fetchUrl(value, field);
  } else {
    const data = value.startsWith("data:")
      ? /^data:[\w/+.-]*(;[\w=.-]+)*;base64,(.*)$/s.exec(value)?.[2]
      : value;
    if (data === undefined) throw fail("a data: URL must be base64-encoded");
    const compact = data.replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(compact) || compact.length === 0) {
      throw fail("expected base64 image data, a data: URL, an http(s) URL or job:<job_id>/<filename>");
    }
    if ((compact.length * 3) / 4 > ctx.maxBytes * 1.01)
      throw fail(`image is larger than ${ctx.maxBytes} bytes`);
    bytes = Buffer.from(compact, "base64");
  }
  if (bytes.length > ctx.maxBytes) throw fail(`image is ${bytes.length} bytes, the limit is ${ctx.maxBytes}`);
  const format = sniffImage(bytes);
  if (!format) throw fail("not a PNG, JPEG, WebP or GIF image");
  return { bytes, contentType: format.type, ext: format.ext };
}
