// The model-free image nodes, run on real pixels: EmptyImage, LoadImage, ImageInvert, ImageScale, ImageBlur.
// Input declarations copy ComfyUI's INPUT_TYPES so /object_info and validation look the same.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import sharp from "sharp";
import { blurFrame, type Frame, ImageBatch, invertFrame, resizeFrame, solidFrame } from "./image.js";
import type { NodeDef, NodeResult } from "./node-types.js";
import { annotatedFilepath, listInputImages } from "./paths.js";
import { PyException, type PyObject } from "./python-compat.js";

const MAX_RESOLUTION = 16384;
export const UPSCALE_METHODS = ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"];

/** A MASK value: kept only as a shape, nothing in the simulator consumes masks. */
class MaskBatch implements PyObject {
  constructor(
    readonly width: number,
    readonly height: number,
  ) {}
  get pyRepr(): string {
    return `tensor(shape=[1, ${this.height}, ${this.width}], dtype=torch.float32)`;
  }
}

export function framesOf(v: unknown): Frame[] {
  if (v instanceof ImageBatch) return v.frames;
  throw new PyException(
    "AttributeError",
    `'${v === undefined || v === null ? "NoneType" : typeof v}' object has no attribute 'shape'`,
  );
}

function one(outputs: unknown[]): NodeResult {
  return { outputs };
}

const emptyImage: NodeDef = {
  name: "EmptyImage",
  displayName: "EmptyImage",
  category: "image",
  description: "",
  outputNode: false,
  returnTypes: ["IMAGE"],
  inputTypes: () => ({
    required: {
      width: ["INT", { default: 512, min: 1, max: MAX_RESOLUTION, step: 1 }],
      height: ["INT", { default: 512, min: 1, max: MAX_RESOLUTION, step: 1 }],
      batch_size: ["INT", { default: 1, min: 1, max: 4096 }],
      color: ["INT", { default: 0, min: 0, max: 0xffffff, step: 1, display: "color" }],
    },
  }),
  run: async (i) => {
    const frame = solidFrame(i.width as number, i.height as number, i.color as number);
    const frames = Array.from({ length: i.batch_size as number }, () => frame);
    return one([new ImageBatch(frames)]);
  },
};

const loadImage: NodeDef = {
  name: "LoadImage",
  displayName: "Load Image",
  category: "image",
  description: "",
  outputNode: false,
  returnTypes: ["IMAGE", "MASK"],
  inputTypes: (env) => ({ required: { image: [listInputImages(env.dirs), { image_upload: true }] } }),
  // LoadImage.VALIDATE_INPUTS: any existing path is accepted, including "sub/x.png" outside the choice list.
  validateInputs: {
    names: ["image"],
    check: (inputs, env) =>
      fs.existsSync(imagePath(env.dirs, inputs.image)) ? true : `Invalid image file: ${String(inputs.image)}`,
  },
  // IS_CHANGED: the file's sha256, so replacing the file under the same name re-runs the node.
  isChanged: (inputs, env) => {
    try {
      return createHash("sha256")
        .update(fs.readFileSync(imagePath(env.dirs, inputs.image)))
        .digest("hex");
    } catch {
      return null;
    }
  },
  // PIL opens PNG, JPEG, WebP, GIF...: sharp stands in for it.
  run: async (i, ctx) => {
    const file = imagePath(ctx.env.dirs, i.image);
    let frame: Frame;
    try {
      const { data, info } = await sharp(await fs.promises.readFile(file))
        .ensureAlpha()
        .raw()
        .toBuffer({ resolveWithObject: true });
      frame = { width: info.width, height: info.height, data };
    } catch {
      throw new PyException("PIL.UnidentifiedImageError", `cannot identify image file '${file}'`);
    }
    for (let p = 3; p < frame.data.length; p += 4) frame.data[p] = 255;
    return one([new ImageBatch([frame]), new MaskBatch(frame.width, frame.height)]);
  },
};

function imagePath(dirs: { input: string; output: string; temp: string }, image: unknown): string {
  const { name, dir } = annotatedFilepath(dirs, String(image));
  return path.join(dir ?? dirs.input, name);
}

const imageInvert: NodeDef = {
  name: "ImageInvert",
  displayName: "Invert Image",
  category: "image",
  description: "",
  outputNode: false,
  returnTypes: ["IMAGE"],
  inputTypes: () => ({ required: { image: ["IMAGE"] } }),
  run: async (i) => one([new ImageBatch(framesOf(i.image).map(invertFrame))]),
};

const imageScale: NodeDef = {
  name: "ImageScale",
  displayName: "Upscale Image",
  category: "image/upscaling",
  description: "",
  outputNode: false,
  returnTypes: ["IMAGE"],
  inputTypes: () => ({
    required: {
      image: ["IMAGE"],
      upscale_method: [UPSCALE_METHODS],
      width: ["INT", { default: 512, min: 0, max: MAX_RESOLUTION, step: 1 }],
      height: ["INT", { default: 512, min: 0, max: MAX_RESOLUTION, step: 1 }],
      crop: [["disabled", "center"]],
    },
  }),
  // Every method resizes nearest-neighbour; the sizes and the crop follow ImageScale.upscale exactly.
  run: async (i) => {
    const frames = framesOf(i.image).map((f) => {
      let width = i.width as number;
      let height = i.height as number;
      if (width === 0 && height === 0) return f;
      if (width === 0) width = Math.max(1, Math.round((f.width * height) / f.height));
      else if (height === 0) height = Math.max(1, Math.round((f.height * width) / f.width));
      return resizeFrame(f, width, height, i.crop === "center" ? centerCrop(f, width, height) : undefined);
    });
    return one([new ImageBatch(frames)]);
  },
};

/** comfy.utils.common_upscale's "center" crop: trim the source to the target aspect ratio. */
function centerCrop(f: Frame, width: number, height: number): { x: number; y: number; w: number; h: number } {
  const oldAspect = f.width / f.height;
  const newAspect = width / height;
  let x = 0;
  let y = 0;
  if (oldAspect > newAspect) x = Math.round((f.width - f.width * (newAspect / oldAspect)) / 2);
  else if (oldAspect < newAspect) y = Math.round((f.height - f.height * (oldAspect / newAspect)) / 2);
  return { x, y, w: f.width - 2 * x, h: f.height - 2 * y };
}

const imageBlur: NodeDef = {
  name: "ImageBlur",
  displayName: "Image Blur",
  category: "image/postprocessing",
  description: "",
  outputNode: false,
  returnTypes: ["IMAGE"],
  inputTypes: () => ({
    required: {
      image: ["IMAGE"],
      blur_radius: ["INT", { default: 1, min: 1, max: 31, step: 1 }],
      sigma: ["FLOAT", { default: 1.0, min: 0.1, max: 10.0, step: 0.1 }],
    },
  }),
  // F.pad(..., 'reflect') needs the padding to be smaller than each side, or torch raises.
  run: async (i) => {
    const radius = i.blur_radius as number;
    const frames = framesOf(i.image);
    if (radius === 0) return one([new ImageBatch(frames)]);
    const f = frames[0];
    if (f && (radius >= f.width || radius >= f.height)) {
      const dim = radius >= f.width ? 3 : 2;
      throw new PyException(
        "RuntimeError",
        `Argument #4: Padding size should be less than the corresponding input dimension, but got: padding (${radius}, ${radius}) at dimension ${dim} of input [${frames.length}, 3, ${f.height}, ${f.width}]`,
      );
    }
    return one([new ImageBatch(frames.map((fr) => blurFrame(fr, radius)))]);
  },
};

export const IMAGE_NODES: NodeDef[] = [emptyImage, loadImage, imageInvert, imageScale, imageBlur];
