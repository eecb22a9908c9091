// Converted copies of image outputs (WebP, JPEG or PNG, optionally narrower) for thumbnails and clients
// that want small files. Each variant is made once with sharp and cached beside the outputs, in the job's
// own folder (so retention deletes them with the job); the original file is only ever read.
import { randomUUID } from "node:crypto";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import { z } from "zod";
import { AppError } from "../../errors.js";

export const VARIANT_FORMATS = ["webp", "jpeg", "png"] as const;
export type VariantFormat = (typeof VARIANT_FORMATS)[number];

/** The query of GET /api/job/:id/outputs/:filename; any of the three asks for a variant. */
export const VariantQuerySchema = z.object({
  format: z
    .enum([...VARIANT_FORMATS, "jpg"])
    .transform((f): VariantFormat => (f === "jpg" ? "jpeg" : f))
    .optional()
    .meta({ description: "Convert to this format (`jpg` is `jpeg`); default: the original's, or png" }),
  quality: z.coerce
    .number()
    .int()
    .min(1)
    .max(100)
    .optional()
    .meta({ description: "1-100 for webp and jpeg (default 80); ignored for png" }),
  width: z.coerce
    .number()
    .int()
    .min(1)
    .max(8192)
    .optional()
    .meta({ description: "Scale down to this width in pixels, keeping the aspect ratio (never up)" }),
});
export type VariantQuery = z.infer<typeof VariantQuerySchema>;

export interface Variant {
  format: VariantFormat;
  quality: number | null;
  width: number | null;
}

const CONTENT_TYPES: Record<VariantFormat, string> = {
  webp: "image/webp",
  jpeg: "image/jpeg",
  png: "image/png",
};
const FROM_CONTENT_TYPE: Record<string, VariantFormat> = {
  "image/webp": "webp",
  "image/jpeg": "jpeg",
  "image/png": "png",
};
const DEFAULT_QUALITY = 80;
/** sharp's own default (16383²), stated: a decompression bomb among the outputs cannot exhaust memory. */
const MAX_INPUT_PIXELS = 268_402_689;

/** The folder of cached variants inside a job's outputs folder; output names never start with a dot. */
const CACHE_DIR = ".variants";

/** Null when the query asks for the original bytes. */
export function variantOf(q: VariantQuery, original: { content_type: string }): Variant | null {
  if (q.format === undefined && q.quality === undefined && q.width === undefined) return null;
  if (!original.content_type.startsWith("image/")) {
    throw new AppError(
      "VALIDATION_FAILED",
      `Only image outputs can be converted; this one is ${original.content_type}`,
      {
        fields: [
          {
            field: `query.${q.format !== undefined ? "format" : q.width !== undefined ? "width" : "quality"}`,
            message: `the output is ${original.content_type}, not an image`,
          },
        ],
      },
    );
  }
  const format = q.format ?? FROM_CONTENT_TYPE[original.content_type] ?? "png";
  return {
    format,
    quality: format === "png" ? null : (q.quality ?? DEFAULT_QUALITY),
    width: q.width ?? null,
  };
}

export function variantContentType(v: Variant): string {
  return CONTENT_TYPES[v.format];
}

/** `image.png` as `image.w64.q80.webp`: the name a variant is cached and downloaded under. */
export function variantName(filename: string, v: Variant): string {
  const stem = filename.replace(/\.[^.]+$/, "");
  const parts = [stem, v.width !== null ? `w${v.width}` : null, v.quality !== null ? `q${v.quality}` : null];
  return `${parts.filter(Boolean).join(".")}.${v.format === "jpeg" ? "jpg" : v.format}`;
}

export class OutputVariants {
  /** Conversions under way, so concurrent requests for one variant make it once. */
  private readonly making = new Map<string, Promise<{ file: string; size: number }>>();

  /** The cached variant of `source` (made now if needed): its path and size. */
  get(source: string, filename: string, v: Variant): Promise<{ file: string; size: number }> {
    const file = path.join(path.dirname(source), CACHE_DIR, variantName(filename, v));
    const pending = this.making.get(file);
    if (pending) return pending;
    const made = this.ensure(source, file, v).finally(() => this.making.delete(file));
    this.making.set(file, made);
    return made;
  }

  private async ensure(source: string, file: string, v: Variant): Promise<{ file: string; size: number }> {
    const cached = await stat(file).catch(() => null);
    if (cached?.isFile()) return { file, size: cached.size };
    await mkdir(path.dirname(file), { recursive: true });
    // Written under a temporary name and renamed: a half-written variant is never served.
    const part = `${file}.${randomUUID()}.part`;
    try {
      let img = sharp(source, { limitInputPixels: MAX_INPUT_PIXELS, failOn: "error" });
      if (v.width !== null) img = img.resize({ width: v.width, withoutEnlargement: true });
      img =
        v.format === "webp"
          ? img.webp({ quality: v.quality ?? DEFAULT_QUALITY })
          : v.format === "jpeg"
            ? img.flatten({ background: "#ffffff" }).jpeg({ quality: v.quality ?? DEFAULT_QUALITY })
            : img.png();
      const info = await img.toFile(part);
      await rename(part, file);
      return { file, size: info.size };
    } catch (err) {
      await rm(part, { force: true });
      throw new AppError(
        "OUTPUT_NOT_CONVERTIBLE",
        `The output could not be converted: ${(err as Error).message}`,
        {
          format: v.format,
        },
      );
    }
  }
}
