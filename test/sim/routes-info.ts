// Host description routes: /system_stats (VRAM in bytes, adjustable by tests), /object_info for every class
// or one, and the small listings a client may probe (/embeddings, /features).
import os from "node:os";
import type { SimRuntime } from "./host-process.js";
import { MAX_BODY_BYTES, sendJson } from "./http-io.js";
import { nodeInfo } from "./node-registry.js";
import { type Route, route } from "./router.js";

export function infoRoutes(rt: SimRuntime): Route[] {
  return [
    route("GET", "/system_stats", (_req, res) => {
      const { name, vramTotal, vramFree } = rt.device;
      sendJson(res, 200, {
        system: {
          os: "posix",
          ram_total: os.totalmem(),
          ram_free: os.freemem(),
          comfyui_version: "0.3.43",
          python_version: "3.12.3 (main, Jun 18 2025, 17:59:45) [GCC 13.3.0]",
          pytorch_version: "2.7.1+cu128",
          embedded_python: false,
          argv: ["main.py", "--listen", "127.0.0.1"],
        },
        devices: [
          {
            name,
            type: "cuda",
            index: 0,
            vram_total: vramTotal,
            vram_free: vramFree,
            // What torch itself has reserved; the simulator pretends it holds everything in use.
            torch_vram_total: Math.max(0, vramTotal - vramFree),
            torch_vram_free: 0,
          },
        ],
      });
    }),

    route("GET", "/object_info", (_req, res) => {
      const env = rt.env();
      const out: Record<string, unknown> = {};
      for (const [name, def] of rt.registry) out[name] = nodeInfo(def, env);
      sendJson(res, 200, out);
    }),

    route("GET", "/object_info/{node_class}", (_req, res, _url, [nodeClass]) => {
      const def = rt.registry.get(nodeClass ?? "");
      sendJson(res, 200, def ? { [def.name]: nodeInfo(def, rt.env()) } : {});
    }),

    route("GET", "/embeddings", (_req, res) => sendJson(res, 200, [])),

    route("GET", "/features", (_req, res) =>
      sendJson(res, 200, { supports_preview_metadata: false, max_upload_size: MAX_BODY_BYTES }),
    ),
  ];
}
