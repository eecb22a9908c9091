// Helpers for the delivery tests: an Orchestrator with webhooks enabled, and a local webhook receiver that
// records what it gets.
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { api, eventually } from "../helpers/api.js";
import { type RunningOrchestrator, startOrchestrator, type TestConfig } from "../helpers/orchestrator.js";

export const SECRET = "test-secret-0123456789abcdef";

export interface DeliveryTestConfig extends TestConfig {
  webhooks?: Record<string, unknown>;
  retention?: Record<string, unknown>;
}

/** startOrchestrator with webhooks on by default: signed, to 127.0.0.1, with fast retries. */
export function startDeliveryOrchestrator(c: DeliveryTestConfig): Promise<RunningOrchestrator> {
  return startOrchestrator({
    ...c,
    overrides: {
      ...c.overrides,
      webhooks: {
        secret: SECRET,
        allowed_hosts: ["127.0.0.1"],
        backoff_s: 0.05,
        timeout_s: 2,
        ...c.webhooks,
      },
      retention: { ...c.retention },
    },
  });
}

type Answer = number | "drop" | "hang";

export interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  /** What the receiver did with it ("hang": nothing, the socket stays open until the receiver closes). */
  answer: Answer;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Answers for the next requests, in order; after them, `fallback`. "drop" closes the socket unanswered. */
  plan: Answer[];
  fallback: Answer;
  /** When set, answers every request instead of plan/fallback (e.g. by its delivery id). */
  decide?: (headers: http.IncomingHttpHeaders) => Answer;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const r: Receiver = {
    url: "",
    received: [],
    plan: [],
    fallback: 200,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const answer = r.decide ? r.decide(req.headers) : (r.plan.shift() ?? r.fallback);
      r.received.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8"), answer });
      if (answer === "hang") return;
      if (answer === "drop") req.socket.destroy();
      else res.writeHead(answer, { "content-type": "text/plain" }).end(answer < 300 ? "ok" : "nope");
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/orchestrator`;
  return r;
}

/** Polls the job until its webhook delivery satisfies `pred` (waitForJob stops at the job's end). */
export async function waitForWebhook(
  base: string,
  id: string,
  pred: (webhook: any) => boolean,
  timeoutMs = 15_000,
): Promise<any> {
  return eventually(
    async () => {
      const job = (await api(base, "GET", `/api/job/${id}`)).body;
      return job?.webhook && pred(job.webhook) ? job : null;
    },
    timeoutMs,
    `the webhook of job ${id}`,
  );
}
