// `npm run sim -- --port 8188 --vram-gb 24 --step-ms 50 [--checkpoints a,b] [--data-dir DIR]`: a simulated
// ComfyUI host in the foreground, one log line per prompt, stopped cleanly by SIGINT/SIGTERM.
import { parseArgs } from "node:util";
import { OBJECT_INFO_FORMS, type ObjectInfoForm } from "./object-info.js";
import { PREVIEW_METHODS, type PreviewMethod } from "./previews.js";
import { startSimulator } from "./simulator.js";

const USAGE = `usage: npm run sim -- [--port 8188] [--vram-gb 24] [--vram-free-gb 20] [--step-ms 20] [--node-ms 2]
                     [--checkpoints a.safetensors,b.safetensors] [--extra-nodes A,B] [--data-dir DIR]
                     [--output-size-bytes N] [--device-name NAME]
                     [--speed 1] [--load-ms 0] [--model-slots 1] [--model-gb 2]
                     [--cpu] [--preview-method none|auto|latent2rgb|taesd] [--object-info-form mixed|v1|v3]
                     [--upscale-models a.pth,b.pth]`;

function oneOf<T extends string>(name: string, v: string | undefined, allowed: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(v))
    throw new Error(`--${name} must be one of ${allowed.join(", ")}`);
  return v as T;
}

function list(v: string | undefined): string[] | undefined {
  return v === undefined
    ? undefined
    : v
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
}

function num(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got ${v}`);
  return n;
}

function positive(name: string, v: string | undefined): number | undefined {
  const n = num(name, v);
  if (n === 0) throw new Error(`--${name} must be above 0`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "8188" },
      "vram-gb": { type: "string" },
      "vram-free-gb": { type: "string" },
      "step-ms": { type: "string" },
      "node-ms": { type: "string" },
      checkpoints: { type: "string" },
      "extra-nodes": { type: "string" },
      "data-dir": { type: "string" },
      "output-size-bytes": { type: "string" },
      "device-name": { type: "string" },
      speed: { type: "string" },
      "load-ms": { type: "string" },
      "model-slots": { type: "string" },
      "model-gb": { type: "string" },
      cpu: { type: "boolean" },
      "preview-method": { type: "string" },
      "object-info-form": { type: "string" },
      "upscale-models": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const sim = await startSimulator({
    port: num("port", values.port),
    vramTotalGb: num("vram-gb", values["vram-gb"]),
    vramFreeGb: num("vram-free-gb", values["vram-free-gb"]),
    stepMs: num("step-ms", values["step-ms"]),
    nodeMs: num("node-ms", values["node-ms"]),
    checkpoints: list(values.checkpoints),
    extraNodeClasses: list(values["extra-nodes"]),
    dataDir: values["data-dir"],
    outputSizeBytes: num("output-size-bytes", values["output-size-bytes"]),
    deviceName: values["device-name"],
    speed: positive("speed", values.speed),
    loadMs: num("load-ms", values["load-ms"]),
    modelSlots: positive("model-slots", values["model-slots"]),
    modelGb: num("model-gb", values["model-gb"]),
    cpu: values.cpu,
    previewMethod: oneOf<PreviewMethod>("preview-method", values["preview-method"], PREVIEW_METHODS),
    objectInfoForm: oneOf<ObjectInfoForm>("object-info-form", values["object-info-form"], OBJECT_INFO_FORMS),
    upscaleModels: list(values["upscale-models"]),
    log: (line) => console.log(`${new Date().toISOString()} ${line}`),
  });
  console.log(
    `${new Date().toISOString()} ComfyUI simulator listening on ${sim.url} (data in ${sim.dataDir})`,
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${new Date().toISOString()} ${signal}: shutting down`);
    sim.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  console.error(USAGE);
  process.exit(1);
});
