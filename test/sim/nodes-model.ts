// Stand-ins for the standard txt2img graph's model nodes. No model is loaded: handles are opaque tokens, the
// sampler only spends stepMs per step reporting progress, and VAEDecode draws a picture fixed by the seed.
import { randomBytes } from "node:crypto";
import { ImageBatch, seededFrame } from "./image.js";
import type { NodeDef } from "./node-types.js";
import { PyException, type PyObject } from "./python-compat.js";

const MAX_RESOLUTION = 16384;

export const SAMPLERS = [
  "euler",
  "euler_cfg_pp",
  "euler_ancestral",
  "euler_ancestral_cfg_pp",
  "heun",
  "heunpp2",
  "dpm_2",
  "dpm_2_ancestral",
  "lms",
  "dpm_fast",
  "dpm_adaptive",
  "dpmpp_2s_ancestral",
  "dpmpp_2s_ancestral_cfg_pp",
  "dpmpp_sde",
  "dpmpp_sde_gpu",
  "dpmpp_2m",
  "dpmpp_2m_cfg_pp",
  "dpmpp_2m_sde",
  "dpmpp_2m_sde_gpu",
  "dpmpp_3m_sde",
  "dpmpp_3m_sde_gpu",
  "ddpm",
  "lcm",
  "ipndm",
  "ipndm_v",
  "deis",
  "res_multistep",
  "res_multistep_cfg_pp",
  "gradient_estimation",
  "er_sde",
  "ddim",
  "uni_pc",
  "uni_pc_bh2",
];
export const SCHEDULERS = [
  "simple",
  "sgm_uniform",
  "karras",
  "exponential",
  "ddim_uniform",
  "beta",
  "normal",
  "linear_quadratic",
  "kl_optimal",
];

/** An opaque model object, printed like the Python object it replaces. */
class Handle implements PyObject {
  readonly pyRepr: string;
  constructor(
    pyClass: string,
    readonly checkpoint: string,
  ) {
    this.pyRepr = `<${pyClass} object at 0x7f${randomBytes(5).toString("hex")}>`;
  }
}

class Conditioning implements PyObject {
  constructor(readonly text: string) {}
  readonly pyRepr = "[[tensor(shape=[1, 77, 2048]), {'pooled_output': tensor(shape=[1, 1280])}]]";
}

export class Latent implements PyObject {
  constructor(
    readonly width: number,
    readonly height: number,
    readonly batch: number,
    readonly seed: number,
  ) {}
  get pyRepr(): string {
    return `{'samples': tensor(shape=[${this.batch}, 4, ${this.height >> 3}, ${this.width >> 3}])}`;
  }
}

function latentOf(v: unknown): Latent {
  if (v instanceof Latent) return v;
  throw new PyException("TypeError", "'NoneType' object is not subscriptable");
}

const checkpointLoader: NodeDef = {
  name: "CheckpointLoaderSimple",
  displayName: "Load Checkpoint",
  category: "loaders",
  description: "Loads a diffusion model checkpoint, diffusion models are used to denoise latents.",
  outputNode: false,
  returnTypes: ["MODEL", "CLIP", "VAE"],
  inputTypes: (env) => ({
    required: { ckpt_name: [env.checkpoints, { tooltip: "The name of the checkpoint (model) to load." }] },
  }),
  run: async (i) => {
    const ckpt = String(i.ckpt_name);
    return {
      outputs: [
        new Handle("comfy.model_patcher.ModelPatcher", ckpt),
        new Handle("comfy.sd.CLIP", ckpt),
        new Handle("comfy.sd.VAE", ckpt),
      ],
    };
  },
};

const clipTextEncode: NodeDef = {
  name: "CLIPTextEncode",
  displayName: "CLIP Text Encode (Prompt)",
  category: "conditioning",
  description:
    "Encodes a text prompt using a CLIP model into an embedding that can be used to guide the diffusion model.",
  outputNode: false,
  returnTypes: ["CONDITIONING"],
  inputTypes: () => ({
    required: {
      text: ["STRING", { multiline: true, dynamicPrompts: true, tooltip: "The text to be encoded." }],
      clip: ["CLIP", { tooltip: "The CLIP model used for encoding the text." }],
    },
  }),
  run: async (i) => {
    if (!(i.clip instanceof Handle)) {
      throw new PyException(
        "RuntimeError",
        "ERROR: clip input is invalid: None\n\nIf the clip is from a checkpoint loader node your checkpoint does not contain a valid clip or text encoder model.",
      );
    }
    return { outputs: [new Conditioning(String(i.text))] };
  },
};

const emptyLatentImage: NodeDef = {
  name: "EmptyLatentImage",
  displayName: "Empty Latent Image",
  category: "latent",
  description: "Create a new batch of empty latent images to be denoised via sampling.",
  outputNode: false,
  returnTypes: ["LATENT"],
  inputTypes: () => ({
    required: {
      width: ["INT", { default: 512, min: 16, max: MAX_RESOLUTION, step: 8 }],
      height: ["INT", { default: 512, min: 16, max: MAX_RESOLUTION, step: 8 }],
      batch_size: ["INT", { default: 1, min: 1, max: 4096 }],
    },
  }),
  // Latents are 1/8 of the image size, so the decoded image is rounded down to a multiple of 8.
  run: async (i) => ({
    outputs: [new Latent((i.width as number) & ~7, (i.height as number) & ~7, i.batch_size as number, 0)],
  }),
};

const kSampler: NodeDef = {
  name: "KSampler",
  displayName: "KSampler",
  category: "sampling",
  description: "Uses the provided model, positive and negative conditioning to denoise the latent image.",
  outputNode: false,
  returnTypes: ["LATENT"],
  inputTypes: () => ({
    required: {
      model: ["MODEL", { tooltip: "The model used for denoising the input latent." }],
      seed: ["INT", { default: 0, min: 0, max: 0xffffffffffffffffn, control_after_generate: true }],
      steps: ["INT", { default: 20, min: 1, max: 10000 }],
      cfg: ["FLOAT", { default: 8.0, min: 0.0, max: 100.0, step: 0.1, round: 0.01 }],
      sampler_name: [SAMPLERS],
      scheduler: [SCHEDULERS],
      positive: ["CONDITIONING"],
      negative: ["CONDITIONING"],
      latent_image: ["LATENT"],
      denoise: ["FLOAT", { default: 1.0, min: 0.0, max: 1.0, step: 0.01 }],
    },
  }),
  run: async (i, ctx) => {
    const latent = latentOf(i.latent_image);
    const seed = i.seed as number;
    const steps = i.steps as number;
    // One small preview per run, resent every step like a live sampler preview.
    const preview = seededFrame(
      Math.max(1, Math.min(64, latent.width >> 3)),
      Math.max(1, Math.min(64, latent.height >> 3)),
      seed,
      0,
    );
    for (let step = 1; step <= steps; step++) {
      await ctx.sleep(ctx.stepMs);
      await ctx.progress(step, steps, preview);
    }
    return { outputs: [new Latent(latent.width, latent.height, latent.batch, seed)] };
  },
};

const vaeDecode: NodeDef = {
  name: "VAEDecode",
  displayName: "VAE Decode",
  category: "latent",
  description: "Decodes latent images back into pixel space images.",
  outputNode: false,
  returnTypes: ["IMAGE"],
  inputTypes: () => ({
    required: {
      samples: ["LATENT", { tooltip: "The latent to be decoded." }],
      vae: ["VAE", { tooltip: "The VAE model used for decoding the latent." }],
    },
  }),
  run: async (i) => {
    const latent = latentOf(i.samples);
    const frames = Array.from({ length: latent.batch }, (_, n) =>
      seededFrame(latent.width, latent.height, latent.seed, n),
    );
    return { outputs: [new ImageBatch(frames)] };
  },
};

export const MODEL_NODES: NodeDef[] = [
  checkpointLoader,
  clipTextEncode,
  emptyLatentImage,
  kSampler,
  vaeDecode,
];
