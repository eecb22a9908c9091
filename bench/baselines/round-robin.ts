// The naive dispatcher a first attempt would be: job i goes to host i mod N at once, each host queues
// what it gets, and the client collects outputs as prompts end. No knowledge of host speed or load.
import { DirectComfyClient } from "../lib/comfy-direct.js";
import { type Txt2ImgJob, txt2imgGraph } from "../lib/workload.js";

export interface DispatchRun {
  /** From the first submit until every output is downloaded, ms. */
  makespanMs: number;
  promptIds: Set<string>;
  failures: number;
  note?: string;
}

export async function runRoundRobin(hostUrls: string[], jobs: Txt2ImgJob[]): Promise<DispatchRun> {
  const clients = hostUrls.map((u) => new DirectComfyClient(u));
  await Promise.all(clients.map((c) => c.connect()));
  const promptIds = new Set<string>();
  let failures = 0;
  try {
    const t0 = performance.now();
    await Promise.all(
      jobs.map(async (job, i) => {
        const client = clients[i % clients.length]!;
        try {
          const r = await client.run(txt2imgGraph(job));
          promptIds.add(r.promptId);
          await client.fetchOutputs(r);
        } catch {
          failures++;
        }
      }),
    );
    return { makespanMs: performance.now() - t0, promptIds, failures };
  } finally {
    for (const c of clients) c.close();
  }
}
