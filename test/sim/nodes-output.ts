// The output nodes SaveImage and PreviewImage: ComfyUI's file naming (prefix_00001_.png, counters continuing
// from what is on disk), the prompt embedded as a tEXt chunk, and optional padding for large-transfer tests.
import { randomInt } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { encodePng } from "./image.js";
import type { NodeDef, RunContext } from "./node-types.js";
import { framesOf } from "./nodes-image.js";
import { isInside } from "./paths.js";
import { insertBeforeIend, padPng, textChunk } from "./png-chunks.js";
import { PyException, pyDumps } from "./python-compat.js";

interface SavedFile {
  filename: string;
  subfolder: string;
  type: "output" | "temp";
}

/** folder_paths.get_save_image_path: splits "a/b" into subfolder "a" and name "b", next free counter. */
function saveImagePath(
  prefix: string,
  baseDir: string,
): { folder: string; name: string; subfolder: string; counter: number } {
  const normalized = path.posix.normalize(prefix.replaceAll("\\", "/"));
  const subfolder = path.posix.dirname(normalized) === "." ? "" : path.posix.dirname(normalized);
  const name = path.posix.basename(normalized);
  const folder = path.join(baseDir, subfolder);
  if (!isInside(baseDir, folder)) {
    throw new PyException(
      "Exception",
      `**** ERROR: Saving image outside the output folder is not allowed.\n full_output_folder: ${path.resolve(folder)}\n         output_dir: ${baseDir}`,
    );
  }
  let counter = 1;
  try {
    for (const f of fs.readdirSync(folder)) {
      if (!f.startsWith(`${name}_`)) continue;
      const digits = Number.parseInt(f.slice(name.length + 1).split("_")[0] ?? "", 10);
      if (Number.isFinite(digits)) counter = Math.max(counter, digits + 1);
    }
  } catch {
    fs.mkdirSync(folder, { recursive: true });
  }
  return { folder, name, subfolder, counter };
}

async function saveImages(
  images: unknown,
  prefix: string,
  type: "output" | "temp",
  ctx: RunContext,
): Promise<SavedFile[]> {
  const baseDir = ctx.env.dirs[type];
  const target = saveImagePath(prefix, baseDir);
  const results: SavedFile[] = [];
  const frames = framesOf(images);
  for (const [batch, frame] of frames.entries()) {
    const filename = `${target.name.replaceAll("%batch_num%", String(batch))}_${String(target.counter).padStart(5, "0")}_.png`;
    let png = encodePng(frame, type === "temp" ? 1 : 4);
    png = withMetadata(png, ctx);
    if (type === "output" && ctx.outputSizeBytes) png = padPng(png, ctx.outputSizeBytes);
    await fs.promises.writeFile(path.join(target.folder, filename), png);
    results.push({ filename, subfolder: target.subfolder, type });
    target.counter++;
  }
  return results;
}

/** ComfyUI stores the API prompt and the extra_pnginfo entries (the UI workflow) as tEXt chunks. */
function withMetadata(png: Buffer, ctx: RunContext): Buffer {
  const chunks = [textChunk("prompt", pyDumps(ctx.prompt))];
  const pnginfo = ctx.extraData.extra_pnginfo;
  if (typeof pnginfo === "object" && pnginfo !== null) {
    for (const [k, v] of Object.entries(pnginfo)) chunks.push(textChunk(k, pyDumps(v)));
  }
  return insertBeforeIend(png, chunks);
}

const HIDDEN = { prompt: "PROMPT", extra_pnginfo: "EXTRA_PNGINFO" };

const saveImage: NodeDef = {
  name: "SaveImage",
  displayName: "Save Image",
  category: "image",
  description: "Saves the input images to your ComfyUI output directory.",
  outputNode: true,
  returnTypes: [],
  inputTypes: () => ({
    required: {
      images: ["IMAGE", { tooltip: "The images to save." }],
      filename_prefix: [
        "STRING",
        {
          default: "ComfyUI",
          tooltip:
            "The prefix for the file to save. This may include formatting information such as %date:yyyy-MM-dd% or %Empty Latent Image.width% to include values from nodes.",
        },
      ],
    },
    hidden: HIDDEN,
  }),
  run: async (i, ctx) => {
    const images = await saveImages(i.images, String(i.filename_prefix), "output", ctx);
    return { outputs: [], ui: { images } };
  },
};

const LETTERS = "abcdefghijklmnopqrstupvxyz"; // sic: ComfyUI's own alphabet for temp names

const previewImage: NodeDef = {
  name: "PreviewImage",
  displayName: "Preview Image",
  category: "image",
  description: "Saves the input images to your ComfyUI output directory.",
  outputNode: true,
  returnTypes: [],
  inputTypes: () => ({ required: { images: ["IMAGE"] }, hidden: HIDDEN }),
  run: async (i, ctx) => {
    const suffix = Array.from({ length: 5 }, () => LETTERS[randomInt(LETTERS.length)]).join("");
    const images = await saveImages(i.images, `ComfyUI_temp_${suffix}`, "temp", ctx);
    return { outputs: [], ui: { images } };
  },
};

export const OUTPUT_NODES: NodeDef[] = [saveImage, previewImage];
