// Ready-made API-format graphs for tests and for foreign load: the standard txt2img graph and a model-free
// EmptyImage → SaveImage graph, with node ids as ComfyUI's default workflow numbers them.
import type { Graph } from "./node-types.js";

export interface Txt2ImgParams {
  ckpt?: string;
  seed?: number;
  steps?: number;
  width?: number;
  height?: number;
  batch?: number;
  positive?: string;
  negative?: string;
  prefix?: string;
  sampler?: string;
}

/** Checkpoint 4 → CLIP encodes 6/7 → latent 5 → KSampler 3 → VAEDecode 8 → SaveImage 9. */
export function txt2imgGraph(p: Txt2ImgParams = {}): Graph {
  return {
    "3": {
      class_type: "KSampler",
      inputs: {
        seed: p.seed ?? 42,
        steps: p.steps ?? 4,
        cfg: 8,
        sampler_name: p.sampler ?? "euler",
        scheduler: "normal",
        denoise: 1,
        model: ["4", 0],
        positive: ["6", 0],
        negative: ["7", 0],
        latent_image: ["5", 0],
      },
      _meta: { title: "KSampler" },
    },
    "4": {
      class_type: "CheckpointLoaderSimple",
      inputs: { ckpt_name: p.ckpt ?? "sd_xl_base_1.0.safetensors" },
      _meta: { title: "Load Checkpoint" },
    },
    "5": {
      class_type: "EmptyLatentImage",
      inputs: { width: p.width ?? 64, height: p.height ?? 64, batch_size: p.batch ?? 1 },
      _meta: { title: "Empty Latent Image" },
    },
    "6": {
      class_type: "CLIPTextEncode",
      inputs: { text: p.positive ?? "a lighthouse at dusk", clip: ["4", 1] },
      _meta: { title: "CLIP Text Encode (Prompt)" },
    },
    "7": {
      class_type: "CLIPTextEncode",
      inputs: { text: p.negative ?? "blurry", clip: ["4", 1] },
      _meta: { title: "CLIP Text Encode (Prompt)" },
    },
    "8": {
      class_type: "VAEDecode",
      inputs: { samples: ["3", 0], vae: ["4", 2] },
      _meta: { title: "VAE Decode" },
    },
    "9": {
      class_type: "SaveImage",
      inputs: { filename_prefix: p.prefix ?? "ComfyUI", images: ["8", 0] },
      _meta: { title: "Save Image" },
    },
  };
}

/** EmptyImage 1 → SaveImage 2: runs on any host and writes a solid-colour PNG. */
export function emptyImageGraph(
  p: { width?: number; height?: number; color?: number; prefix?: string } = {},
): Graph {
  return {
    "1": {
      class_type: "EmptyImage",
      inputs: { width: p.width ?? 32, height: p.height ?? 16, batch_size: 1, color: p.color ?? 0xff0000 },
    },
    "2": { class_type: "SaveImage", inputs: { images: ["1", 0], filename_prefix: p.prefix ?? "empty" } },
  };
}
