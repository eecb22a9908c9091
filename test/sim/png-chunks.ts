// PNG chunk surgery: ComfyUI embeds the prompt as tEXt chunks, and large-transfer tests need files padded to a
// size without breaking them, which pngjs cannot do.
import { crc32 } from "node:zlib";

export function makeChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(head.subarray(4))), 0);
  return Buffer.concat([head, data, crc]);
}

export function textChunk(keyword: string, text: string): Buffer {
  return makeChunk(
    "tEXt",
    Buffer.concat([Buffer.from(keyword, "latin1"), Buffer.from([0]), Buffer.from(text, "latin1")]),
  );
}

/** Inserts chunks just before IEND (every valid PNG ends with the 12-byte IEND chunk). */
export function insertBeforeIend(png: Buffer, chunks: Buffer[]): Buffer {
  if (chunks.length === 0) return png;
  const iendAt = png.length - 12;
  return Buffer.concat([png.subarray(0, iendAt), ...chunks, png.subarray(iendAt)]);
}

/**
 * Pads a PNG to `targetBytes` with a private ancillary chunk ("smPd": ancillary, private, safe to copy) that
 * decoders skip. A file already within 12 bytes of the target cannot hold a chunk and comes out slightly larger.
 */
export function padPng(png: Buffer, targetBytes: number): Buffer {
  const missing = targetBytes - png.length;
  if (missing <= 0) return png;
  return insertBeforeIend(png, [makeChunk("smPd", Buffer.alloc(Math.max(0, missing - 12)))]);
}
