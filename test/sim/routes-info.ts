// Host description routes: /system_stats with v0.8's keys (VRAM in bytes, adjustable by tests; system RAM on a
// --cpu host), /object_info for every class or one, and the listings a client may probe (/models,
// /models/{folder}, /extensions, /embeddings, /features).
import os from "node:os";
import type { SimRuntime } from "./host-process.js";
import { sendJson, sendStatus } from "./http-io.js";
import { nodeInfo } from "./object-info.js";
import { type Route, route } from "./router.js";
import { SERVER_FEATURES } from "./ws-session.js";

/** folder_paths.folder_names_and_paths of a stock v0.8.0, in its order. */
const MODEL_FOLDERS = [
  "checkpoints",
  "configs",
  "loras",
  "vae",
  "text_encoders",
  "diffusion_models",
  "clip_vision",
  "style_models",
  "embeddings",
  "diffusers",
  "vae_approx",
  "controlnet",
  "gligen",
  "upscale_models",
  "latent_upscale_models",
  "custom_nodes",
  "hypernetworks",
  "photomaker",
  "classifiers",
  "model_patches",
  "audio_encoders",
];

export function infoRoutes(rt: SimRuntime): Route[] {
  return [
    route("GET", "/system_stats", (_req, res) => {
      const { name, type, vramTotal, vramFree } = rt.device;
      const cpu = type === "cpu";
      sendJson(res, 200, {
        system: {
          os: "posix",
          ram_total: os.totalmem(),
          ram_free: os.freemem(),
          comfyui_version: "0.8.0",
          required_frontend_version: "1.35.9",
          installed_templates_version: "0.7.59",
          required_templates_version: "0.7.59",
          python_version: "3.12.3 (main, Jun 18 2025, 17:59:45) [GCC 13.3.0]",
          pytorch_version: cpu ? "2.9.1+cpu" : "2.9.1+cu128",
          embedded_python: false,
          argv: cpu ? ["main.py", "--listen", "127.0.0.1", "--cpu"] : ["main.py", "--listen", "127.0.0.1"],
        },
        devices: [
          {
            name,
            type,
            index: cpu ? null : 0,
            vram_total: cpu ? os.totalmem() : vramTotal,
            vram_free: cpu ? os.freemem() : vramFree,
            // What torch itself has reserved; the simulator pretends it holds everything in use.
            torch_vram_total: cpu ? os.totalmem() : Math.max(0, vramTotal - vramFree),
            torch_vram_free: cpu ? os.freemem() : 0,
          },
        ],
      });
    }),

    route("GET", "/object_info", (_req, res) => {
      const env = rt.env();
      const out: Record<string, unknown> = {};
      for (const [name, def] of rt.registry) out[name] = nodeInfo(def, env, rt.objectInfoForm);
      sendJson(res, 200, out);
    }),

    route("GET", "/object_info/{node_class}", (_req, res, _url, [nodeClass]) => {
      const def = rt.registry.get(nodeClass ?? "");
      sendJson(res, 200, def ? { [def.name]: nodeInfo(def, rt.env(), rt.objectInfoForm) } : {});
    }),

    route("GET", "/models", (_req, res) => sendJson(res, 200, MODEL_FOLDERS)),

    route("GET", "/models/{folder}", (_req, res, _url, [folder]) => {
      if (!MODEL_FOLDERS.includes(folder ?? "")) return sendStatus(res, 404);
      const env = rt.env();
      const files: Record<string, string[]> = {
        checkpoints: env.checkpoints,
        upscale_models: env.upscaleModels,
      };
      sendJson(res, 200, files[folder ?? ""] ?? []);
    }),

    // Stock hosts ship their core extensions inside the frontend package: only custom nodes add files.
    route("GET", "/extensions", (_req, res) => sendJson(res, 200, [])),

    route("GET", "/embeddings", (_req, res) => sendJson(res, 200, [])),

    route("GET", "/features", (_req, res) => sendJson(res, 200, SERVER_FEATURES)),
  ];
}
