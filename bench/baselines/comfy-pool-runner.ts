// Runs a workload through @saintno/comfyui-sdk's ComfyPool, the library's own multi-host dispatcher, in its
// own process (its job loop never ends, and it must not share the bench's event loop). Each job is the
// SDK's documented pattern: pool.run → CallWrapper(PromptBuilder).run() → getImage for every output.
// `npx tsx bench/baselines/comfy-pool-runner.ts --input FILE --output FILE`;
// input {hosts: string[], graphs: object[]}, output {makespanMs, promptIds, failures, note}.
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  CallWrapper,
  ComfyApi,
  ComfyPool,
  EQueueMode,
  type NodeData,
  PromptBuilder,
} from "@saintno/comfyui-sdk";

const { values } = parseArgs({ options: { input: { type: "string" }, output: { type: "string" } } });
if (!values.input || !values.output) {
  console.error("usage: comfy-pool-runner.ts --input FILE --output FILE");
  process.exit(2);
}
const input = JSON.parse(readFileSync(values.input, "utf8")) as { hosts: string[]; graphs: NodeData[] };
const output = values.output;

// PICK_ZERO is the library's default: a host gets a job only when its queue is empty.
const pool = new ComfyPool(
  input.hosts.map((h) => new ComfyApi(h)),
  EQueueMode.PICK_ZERO,
);
let ready = 0;
await new Promise<void>((resolve, reject) => {
  const timer = setTimeout(
    () => reject(new Error(`only ${ready} of ${input.hosts.length} hosts became ready`)),
    30_000,
  );
  pool.on("ready", () => {
    if (++ready === input.hosts.length) {
      clearTimeout(timer);
      resolve();
    }
  });
});

const saveNode = (graph: NodeData) =>
  Object.entries(graph).find(([, n]) => n.class_type === "SaveImage")?.[0] ?? "9";

const promptIds: string[] = [];
let failures = 0;
const t0 = performance.now();
await Promise.all(
  input.graphs.map((graph) =>
    pool
      .run(async (api) => {
        let promptId = "";
        const builder = new PromptBuilder(graph, [], ["images"]).setOutputNode("images", saveNode(graph));
        const result = await new CallWrapper(api, builder).onPending((id) => (promptId = id ?? "")).run();
        if (!result) throw new Error(`prompt ${promptId} failed`);
        if (promptId) promptIds.push(promptId);
        const images =
          (result.images as { images?: { filename: string; subfolder: string; type: string }[] } | undefined)
            ?.images ?? [];
        for (const img of images) await api.getImage(img);
      })
      .catch(() => {
        failures++;
      }),
  ),
);
const makespanMs = performance.now() - t0;
writeFileSync(
  output,
  JSON.stringify({ makespanMs, promptIds, failures, note: "EQueueMode.PICK_ZERO (default)" }),
);
pool.destroy();
process.exit(0);
