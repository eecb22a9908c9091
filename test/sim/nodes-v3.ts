// Nodes that v0.8.0 defines with the V3 schema (comfy_extras/nodes_upscale_model.py): /object_info writes
// their choice inputs as `["COMBO", {"options": [...]}]`. The "model" scales by the factor in its file name.
import { ImageBatch, resizeFrame } from "./image.js";
import type { NodeDef } from "./node-types.js";
import { framesOf } from "./nodes-image.js";
import { PyException, type PyObject } from "./python-compat.js";

class UpscaleModel implements PyObject {
  constructor(
    readonly name: string,
    readonly scale: number,
  ) {}
  get pyRepr(): string {
    return `<spandrel.ImageModelDescriptor object (${this.name})>`;
  }
}

const upscaleModelLoader: NodeDef = {
  name: "UpscaleModelLoader",
  displayName: "Load Upscale Model",
  category: "loaders",
  description: "",
  outputNode: false,
  returnTypes: ["UPSCALE_MODEL"],
  v3: true,
  inputTypes: (env) => ({ required: { model_name: [env.upscaleModels, {}] } }),
  run: async (i) => {
    const name = String(i.model_name);
    const scale = Number(/(\d)x/i.exec(name)?.[1] ?? /x(\d)/i.exec(name)?.[1] ?? 4);
    return { outputs: [new UpscaleModel(name, scale)] };
  },
};

const imageUpscaleWithModel: NodeDef = {
  name: "ImageUpscaleWithModel",
  displayName: "Upscale Image (using Model)",
  category: "image/upscaling",
  description: "",
  outputNode: false,
  returnTypes: ["IMAGE"],
  v3: true,
  inputTypes: () => ({ required: { upscale_model: ["UPSCALE_MODEL", {}], image: ["IMAGE", {}] } }),
  // Tiled in ComfyUI, with a progress step per tile: here one step per frame.
  run: async (i, ctx) => {
    const model = i.upscale_model;
    if (!(model instanceof UpscaleModel))
      throw new PyException("AttributeError", "'NoneType' object has no attribute 'scale'");
    const frames = framesOf(i.image);
    const out = [];
    for (const [n, f] of frames.entries()) {
      out.push(resizeFrame(f, f.width * model.scale, f.height * model.scale));
      await ctx.progress(n + 1, frames.length);
    }
    return { outputs: [new ImageBatch(out)] };
  },
};

export const V3_NODES: NodeDef[] = [upscaleModelLoader, imageUpscaleWithModel];
