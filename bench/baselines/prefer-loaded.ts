// What SwarmUI does: jobs in submission order, each to a free host (one prompt at a time) that already has
// its model loaded, else to the first free host. The dispatcher knows what it last ran on each host, so it
// knows what each host holds; it does not weigh a load against waiting, nor know which host is faster.
import { DirectComfyClient } from "../lib/comfy-direct.js";
import { type Txt2ImgJob, txt2imgGraph } from "../lib/workload.js";
import type { DispatchRun } from "./round-robin.js";

export async function runPreferLoaded(hostUrls: string[], jobs: Txt2ImgJob[]): Promise<DispatchRun> {
  const clients = hostUrls.map((u) => new DirectComfyClient(u));
  await Promise.all(clients.map((c) => c.connect()));
  const loaded: (string | undefined)[] = hostUrls.map(() => undefined);
  const busy = hostUrls.map(() => false);
  const promptIds = new Set<string>();
  let failures = 0;
  const queue = [...jobs];
  try {
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      let running = 0;
      const pump = () => {
        while (queue.length && busy.includes(false)) {
          const job = queue.shift()!;
          const ckpt = job.ckpt ?? "";
          let host = busy.findIndex((b, i) => !b && loaded[i] === ckpt);
          if (host < 0) host = busy.indexOf(false);
          busy[host] = true;
          loaded[host] = ckpt;
          running++;
          const client = clients[host]!;
          client
            .run(txt2imgGraph(job))
            .then(async (r) => {
              promptIds.add(r.promptId);
              await client.fetchOutputs(r);
            })
            .catch(() => failures++)
            .finally(() => {
              busy[host] = false;
              running--;
              if (!queue.length && running === 0) resolve();
              else pump();
            });
        }
      };
      pump();
      if (!queue.length && running === 0) resolve();
    });
    return { makespanMs: performance.now() - t0, promptIds, failures };
  } finally {
    for (const c of clients) c.close();
  }
}
