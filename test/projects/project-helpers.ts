// Shared by the project tests: reading a PNG's size, and the workflows a project test needs besides the shipped ones.
import { writeWorkflow } from "../helpers/workflows.js";

/** Width and height from a PNG's IHDR chunk. */
export function pngSize(bytes: Buffer): { width: number; height: number } {
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

export async function download(url: string): Promise<Buffer> {
  const r = await fetch(url);
  if (r.status !== 200) throw new Error(`GET ${url}: ${r.status}`);
  return Buffer.from(await r.arrayBuffer());
}

/** A workflow whose only output is audio: a link from it has no image to take. */
export function writeAudioWorkflow(dir: string): void {
  writeWorkflow(dir, "audio_only", {
    graph: {
      "1": { class_type: "SimSilentAudio", inputs: { seconds: 1, sample_rate: 8000 } },
      "2": { class_type: "SaveAudio", inputs: { audio: ["1", 0], filename_prefix: "a" } },
    },
  });
}

/** A 64×64 txt2img chain: stage 1 of a pipeline, small and fast on the simulator. */
export const txt2img = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  workflow_id: "txt2img_basic",
  parameters: { prompt: `shot ${id}`, steps: 2, width: 64, height: 64 },
  ...extra,
});

export const scale = (id: string, from: string, width: number, height: number, output?: number) => ({
  id,
  workflow_id: "scale_image",
  parameters: { image: { from, ...(output !== undefined ? { output } : {}) }, width, height },
});
