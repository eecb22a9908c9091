// Node inputs through which a graph makes a host open a file from its own folders (ComfyUI's `input`,
// and with an "[output]" suffix its `output`). A client may fill them only with media Orchestrator
// uploads for the job itself: a free string there could name another job's upload, an earlier output
// or, on custom nodes that do not check paths, any file on the host.

const KNOWN: Record<string, readonly string[]> = {
  LoadImage: ["image"],
  LoadImageMask: ["image"],
  LoadImageOutput: ["image"],
  LoadAudio: ["audio"],
  LoadVideo: ["file"],
  LoadLatent: ["latent"],
  Load3D: ["model_file"],
  VHS_LoadVideo: ["video"],
  VHS_LoadVideoPath: ["video"],
  VHS_LoadVideoFFmpeg: ["video"],
  VHS_LoadAudio: ["audio_file"],
  VHS_LoadAudioUpload: ["audio"],
  VHS_LoadImages: ["directory"],
  VHS_LoadImagesPath: ["directory"],
};

/** Inputs that name a file on loaders this list does not know yet (custom node packs follow these names). */
const FILE_INPUT_NAMES = new Set([
  "image",
  "mask",
  "video",
  "audio",
  "audio_file",
  "file",
  "directory",
  "path",
]);

export function isFileInput(classType: string, input: string): boolean {
  const known = KNOWN[classType];
  if (known) return known.includes(input);
  return /load/i.test(classType) && FILE_INPUT_NAMES.has(input);
}

/** File inputs that take an image, which a client may supply as an `image` parameter we upload. */
export function isImageFileInput(classType: string, input: string): boolean {
  return isFileInput(classType, input) && (input === "image" || input === "mask");
}
