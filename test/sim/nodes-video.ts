// Output nodes whose files sit under keys other than `images`: VideoHelperSuite's VHS_VideoCombine (`gifs`)
// and ComfyUI's SaveAudio (`audio`), fed by a sim-only silent AUDIO source. The files are small stand-ins
// with the right signatures (GIF, MP4 `ftyp`, RIFF/WAVE): the Orchestrator only moves them.
import fs from "node:fs";
import path from "node:path";
import type { NodeDef, RunContext } from "./node-types.js";
import { framesOf } from "./nodes-image.js";
import { isInside } from "./paths.js";
import { PyException } from "./python-compat.js";

/** An AUDIO value: ComfyUI's {"waveform": tensor, "sample_rate": int}, kept as its length only. */
class AudioClip {
  constructor(
    readonly samples: number,
    readonly sampleRate: number,
  ) {}
  get pyRepr(): string {
    return `{'waveform': tensor(shape=[1, 1, ${this.samples}]), 'sample_rate': ${this.sampleRate}}`;
  }
}

/** "sub/name" → the next free "name_00001_.ext" in output/sub, as folder_paths.get_save_image_path counts. */
function nextOutput(
  ctx: RunContext,
  prefix: string,
  ext: string,
): { file: string; filename: string; subfolder: string } {
  const base = ctx.env.dirs.output;
  const normalized = path.posix.normalize(prefix.replaceAll("\\", "/"));
  const subfolder = path.posix.dirname(normalized) === "." ? "" : path.posix.dirname(normalized);
  const name = path.posix.basename(normalized);
  const folder = path.join(base, subfolder);
  if (!isInside(base, folder))
    throw new PyException("Exception", "Saving outside the output folder is not allowed.");
  fs.mkdirSync(folder, { recursive: true });
  const taken = fs.readdirSync(folder).filter((f) => f.startsWith(`${name}_`)).length;
  const filename = `${name}_${String(taken + 1).padStart(5, "0")}_.${ext}`;
  return { file: path.join(folder, filename), filename, subfolder };
}

const GIF_1X1 = Buffer.from("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7", "base64");

function videoBytes(format: string, frames: number): Buffer {
  if (format === "image/gif") return GIF_1X1;
  const ftyp = Buffer.concat([Buffer.from([0, 0, 0, 20]), Buffer.from("ftypisom\0\0\x02\0isom", "latin1")]);
  const mdat = Buffer.alloc(8 + frames * 16);
  mdat.writeUInt32BE(mdat.length, 0);
  mdat.write("mdat", 4, "latin1");
  return Buffer.concat([ftyp, mdat]);
}

function wavBytes(clip: AudioClip): Buffer {
  const data = clip.samples * 2;
  const h = Buffer.alloc(44);
  h.write("RIFF", 0, "latin1");
  h.writeUInt32LE(36 + data, 4);
  h.write("WAVEfmt ", 8, "latin1");
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(clip.sampleRate, 24);
  h.writeUInt32LE(clip.sampleRate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write("data", 36, "latin1");
  h.writeUInt32LE(data, 40);
  return Buffer.concat([h, Buffer.alloc(data)]);
}

const FORMATS = ["image/gif", "video/h264-mp4"];

const videoCombine: NodeDef = {
  name: "VHS_VideoCombine",
  displayName: "Video Combine 🎥🅥🅗🅢",
  category: "Video Helper Suite 🎥🅥🅗🅢",
  description: "",
  outputNode: true,
  returnTypes: ["VHS_FILENAMES"],
  returnNames: ["Filenames"],
  inputTypes: () => ({
    required: {
      images: ["IMAGE"],
      frame_rate: ["FLOAT", { default: 8, min: 1, step: 1 }],
      loop_count: ["INT", { default: 0, min: 0, max: 100, step: 1 }],
      filename_prefix: ["STRING", { default: "AnimateDiff" }],
      format: [FORMATS],
      pingpong: ["BOOLEAN", { default: false }],
      save_output: ["BOOLEAN", { default: true }],
    },
  }),
  run: async (i, ctx) => {
    const frames = framesOf(i.images);
    const format = String(i.format);
    const out = nextOutput(ctx, String(i.filename_prefix), format === "image/gif" ? "gif" : "mp4");
    await fs.promises.writeFile(out.file, videoBytes(format, frames.length));
    const entry = {
      filename: out.filename,
      subfolder: out.subfolder,
      type: "output",
      format,
      frame_rate: i.frame_rate,
      fullpath: out.file,
    };
    return { outputs: [[true, [out.file]]], ui: { gifs: [entry] } };
  },
};

const silentAudio: NodeDef = {
  name: "SimSilentAudio",
  displayName: "Silent Audio (simulator)",
  category: "audio",
  description: "",
  outputNode: false,
  returnTypes: ["AUDIO"],
  inputTypes: () => ({
    required: {
      seconds: ["FLOAT", { default: 1, min: 0, max: 60, step: 0.1 }],
      sample_rate: ["INT", { default: 8000, min: 8000, max: 48000 }],
    },
  }),
  run: async (i) => ({
    outputs: [new AudioClip(Math.round(Number(i.seconds) * Number(i.sample_rate)), Number(i.sample_rate))],
  }),
};

const saveAudio: NodeDef = {
  name: "SaveAudio",
  displayName: "Save Audio (FLAC)",
  category: "audio",
  description: "",
  outputNode: true,
  returnTypes: [],
  inputTypes: () => ({
    required: { audio: ["AUDIO"], filename_prefix: ["STRING", { default: "audio/ComfyUI" }] },
    hidden: { prompt: "PROMPT", extra_pnginfo: "EXTRA_PNGINFO" },
  }),
  run: async (i, ctx) => {
    if (!(i.audio instanceof AudioClip))
      throw new PyException("TypeError", "'NoneType' object is not subscriptable");
    const out = nextOutput(ctx, String(i.filename_prefix), "wav");
    await fs.promises.writeFile(out.file, wavBytes(i.audio));
    return {
      outputs: [],
      ui: { audio: [{ filename: out.filename, subfolder: out.subfolder, type: "output" }] },
    };
  },
};

export const MEDIA_NODES: NodeDef[] = [videoCombine, silentAudio, saveAudio];
