// Server-Sent Events for one job (GET /api/job/:id/events): its current state first, then its events,
// ending right after the terminal one; JSON errors for unknown jobs.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, expectError, submit, untilHealthy, waitForJob } from "../helpers/api.js";
import { type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

type Msg = any;

interface SseEvent {
  id: string | undefined;
  event: string | undefined;
  data: Msg;
}

interface Stream {
  status: number;
  contentType: string | null;
  events: SseEvent[];
  /** Resolves with every event once the server ends the stream. */
  ended: Promise<SseEvent[]>;
  /** Resolves once an event matching `pred` has arrived. */
  until(pred: (e: SseEvent) => boolean): Promise<SseEvent>;
}

/** Opens the stream and parses it as it arrives (blank-line separated blocks of `field: value` lines). */
async function openStream(base: string, jobId: string): Promise<Stream> {
  const res = await fetch(`${base}/api/job/${jobId}/events`);
  const events: SseEvent[] = [];
  const waiters = new Set<() => void>();
  const parse = (block: string) => {
    const fields: Record<string, string> = {};
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const i = line.indexOf(":");
      fields[line.slice(0, i)] = line.slice(i + 1).trimStart();
    }
    if (fields.data !== undefined)
      events.push({ id: fields.id, event: fields.event, data: JSON.parse(fields.data) });
  };
  const ended = (async () => {
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of res.body!) {
      buf += decoder.decode(chunk as Uint8Array, { stream: true });
      let cut = buf.indexOf("\n\n");
      while (cut >= 0) {
        parse(buf.slice(0, cut));
        buf = buf.slice(cut + 2);
        cut = buf.indexOf("\n\n");
      }
      for (const w of waiters) w();
    }
    return events;
  })();
  const until = (pred: (e: SseEvent) => boolean) =>
    new Promise<SseEvent>((resolve, reject) => {
      const check = () => {
        const hit = events.find(pred);
        if (hit) {
          waiters.delete(check);
          resolve(hit);
        }
      };
      waiters.add(check);
      check();
      void ended.then(() => {
        check();
        reject(new Error(`stream ended without the event; got ${events.map((e) => e.event).join(", ")}`));
      });
    });
  return { status: res.status, contentType: res.headers.get("content-type"), events, ended, until };
}

let sim: Simulator;
let orch: RunningOrchestrator;

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 5 });
  orch = await startOrchestrator({ backends: [{ id: "sim", url: sim.url }] });
  await untilHealthy(orch.url);
});
afterAll(async () => {
  await orch?.stop();
  await sim?.close();
});

/** Runs `fn` with the host disabled, so jobs submitted inside stay queued until it returns. */
async function whileHeld<T>(fn: () => Promise<T>): Promise<T> {
  await api(orch.url, "POST", "/api/backends/sim/disable");
  try {
    return await fn();
  } finally {
    await api(orch.url, "POST", "/api/backends/sim/enable");
  }
}

describe("GET /api/job/:id/events", () => {
  it("streams a job from its current state through progress to completed, then ends", async () => {
    const { id, stream } = await whileHeld(async () => {
      const id = await submit(orch.url, {
        workflow_id: "txt2img_basic",
        parameters: { prompt: "a harbour", steps: 5, width: 64, height: 64 },
      });
      const stream = await openStream(orch.url, id);
      await stream.until((e) => e.event === "job.snapshot");
      return { id, stream };
    });
    expect(stream.status).toBe(200);
    expect(stream.contentType).toMatch(/^text\/event-stream/);

    const events = await stream.ended;
    expect(events.filter((e) => e.event !== "job.progress").map((e) => e.event)).toEqual([
      "job.snapshot",
      "job.dispatched",
      "job.running",
      "job.output",
      "job.completed",
    ]);
    expect(events[0]!.data.job).toMatchObject({ job_id: id, status: "queued" });
    for (const e of events) {
      expect(e.data.type).toBe(e.event);
      expect(e.data.job_id).toBe(id);
      expect(e.id).toBe(String(e.data.seq));
    }
    const seqs = events.slice(1).map((e) => e.data.seq as number);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);

    const sampler = events.filter(
      (e) => e.event === "job.progress" && e.data.node_title === "KSampler" && e.data.max === 5,
    );
    expect(sampler.map((e) => e.data.value)).toEqual([1, 2, 3, 4, 5]);
    const output = events.find((e) => e.event === "job.output")!.data;
    expect(output.url).toBe(`${orch.url}/api/job/${id}/outputs/${encodeURIComponent(output.filename)}`);
    expect(events.at(-1)!.data.progress.percent).toBe(100);
  });

  it("for a job that already ended sends its final state and ends at once", async () => {
    const id = await submit(orch.url, { workflow_id: "invert_image", parameters: { width: 8, height: 8 } });
    await waitForJob(orch.url, id);
    const stream = await openStream(orch.url, id);
    const events = await stream.ended;
    expect(events).toHaveLength(1);
    expect(events[0]!.event).toBe("job.snapshot");
    expect(events[0]!.data.job).toMatchObject({
      job_id: id,
      status: "completed",
      progress: { percent: 100 },
    });

    // A browser's EventSource reconnects after every end; a 204 is what makes it stop.
    const again = await fetch(`${orch.url}/api/job/${id}/events`, {
      headers: { "last-event-id": events[0]!.id! },
    });
    expect(again.status).toBe(204);
  });

  it("ends with job.cancelled when a waiting job is cancelled", async () => {
    await whileHeld(async () => {
      const id = await submit(orch.url, { workflow_id: "invert_image", parameters: { width: 8, height: 8 } });
      const stream = await openStream(orch.url, id);
      await stream.until((e) => e.event === "job.snapshot");
      expect((await api(orch.url, "POST", `/api/job/${id}/cancel`)).status).toBe(200);
      const events = await stream.ended;
      expect(events.map((e) => e.event)).toEqual(["job.snapshot", "job.cancelled"]);
      expect(events[1]!.data).toMatchObject({ job_id: id, from: "queued" });
    });
  });

  it("ends with job.failed when the job fails", async () => {
    sim.setFault({ kind: "execution_error", class_type: "ImageInvert", message: "bad pixels", count: 1 });
    const stream = await whileHeld(async () => {
      // A size no earlier test used: the host's cache would skip an ImageInvert it has already run.
      const id = await submit(orch.url, {
        workflow_id: "invert_image",
        parameters: { width: 11, height: 13 },
      });
      const stream = await openStream(orch.url, id);
      await stream.until((e) => e.event === "job.snapshot");
      return stream;
    });
    const events = await stream.ended;
    expect(events[0]!.data.job.status).toBe("queued");
    expect(events.at(-1)!.event).toBe("job.failed");
    expect(events.at(-1)!.data.error.message).toMatch(/bad pixels/);
  });

  it("answers an unknown job with a JSON 404", async () => {
    const r = await api(orch.url, "GET", "/api/job/no-such-job/events");
    expectError(r, 404, "JOB_NOT_FOUND");
    expect(r.headers.get("content-type")).toMatch(/^application\/json/);
  });
});
