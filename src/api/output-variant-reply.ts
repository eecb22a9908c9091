// Sends a converted output (see core/media/output-variants.ts): streamed from its cached file, with an
// etag of its own (the original's sha256 plus the variant), so browsers and proxies cache each variant.
import { createReadStream } from "node:fs";
import type { FastifyReply } from "fastify";
import {
  type OutputVariants,
  type Variant,
  variantContentType,
  variantName,
} from "../core/media/output-variants.js";
import type { JobOutput } from "../core/models.js";

export async function sendVariant(
  reply: FastifyReply,
  variants: OutputVariants,
  source: string,
  output: JobOutput,
  v: Variant,
  /** The route's Content-Disposition (RFC 6266, for non-ASCII names). */
  disposition: (filename: string) => string,
): Promise<FastifyReply> {
  const { file, size } = await variants.get(source, output.filename, v);
  const name = variantName(output.filename, v);
  reply.header("etag", `"${output.sha256}-${name}"`);
  reply.header("cache-control", "private, max-age=31536000, immutable");
  reply.header("content-type", variantContentType(v));
  reply.header("content-disposition", disposition(name));
  reply.header("content-length", size);
  return reply.send(createReadStream(file));
}
