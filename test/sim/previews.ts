// Sampler previews as ComfyUI v0.8 sends them: off unless the host runs with --preview-method or the prompt
// asks in extra_data.preview_method; JPEG (latent_preview's default format); binary type 1 to clients that
// did not negotiate preview metadata, type 4 (metadata JSON + image) to those that did.
import sharp from "sharp";
import type { Frame } from "./image.js";

export const PREVIEW_METHODS = ["none", "auto", "latent2rgb", "taesd"] as const;
export type PreviewMethod = (typeof PREVIEW_METHODS)[number];

export const PREVIEW_IMAGE = 1;
export const PREVIEW_IMAGE_WITH_METADATA = 4;
export const FORMAT_JPEG = 1;

/** The method a prompt runs with: its own when valid ("default" or absent: the host's --preview-method). */
export function previewMethodFor(
  extraData: Record<string, unknown>,
  hostDefault: PreviewMethod,
): PreviewMethod {
  const asked = extraData.preview_method;
  return typeof asked === "string" && (PREVIEW_METHODS as readonly string[]).includes(asked)
    ? (asked as PreviewMethod)
    : hostDefault;
}

const encoded = new WeakMap<Frame, Promise<Buffer>>();

/** JPEG bytes of a preview frame, encoded once however many steps resend it. */
export function previewJpeg(frame: Frame): Promise<Buffer> {
  let jpeg = encoded.get(frame);
  if (!jpeg) {
    jpeg = sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 4 } })
      .removeAlpha()
      .jpeg({ quality: 95 })
      .toBuffer();
    encoded.set(frame, jpeg);
  }
  return jpeg;
}

/** server.send_image: 4-byte type 1, 4-byte format (1 = JPEG), the bytes. */
export function type1Frame(jpeg: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(PREVIEW_IMAGE, 0);
  header.writeUInt32BE(FORMAT_JPEG, 4);
  return Buffer.concat([header, jpeg]);
}

/** server.send_image_with_metadata: 4-byte type 4, 4-byte metadata length, metadata JSON, the bytes. */
export function type4Frame(jpeg: Buffer, meta: { node_id: string; prompt_id: string }): Buffer {
  const json = Buffer.from(
    JSON.stringify({
      node_id: meta.node_id,
      prompt_id: meta.prompt_id,
      display_node_id: meta.node_id,
      parent_node_id: null,
      real_node_id: meta.node_id,
      image_type: "image/jpeg",
    }),
  );
  const header = Buffer.alloc(8);
  header.writeUInt32BE(PREVIEW_IMAGE_WITH_METADATA, 0);
  header.writeUInt32BE(json.length, 4);
  return Buffer.concat([header, json, jpeg]);
}
