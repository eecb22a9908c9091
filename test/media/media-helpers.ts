// Helpers for the media tests: an Orchestrator with a `media` section, real PNGs, a curl-shaped multipart body, and a local image server.
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { PNG } from "pngjs";
import { untilHealthy } from "../helpers/api.js";
import { checkContract } from "../helpers/contract.js";
import { type RunningOrchestrator, startOrchestrator, type TestConfig } from "../helpers/orchestrator.js";

/** startOrchestrator with a `media` section, waiting until its backends (if any) are online. */
export async function startMediaOrchestrator(
  c: TestConfig & { media?: Record<string, unknown> },
): Promise<RunningOrchestrator> {
  const orch = await startOrchestrator({ ...c, overrides: { ...c.overrides, media: { ...c.media } } });
  if (c.backends.length > 0) {
    await untilHealthy(orch.url);
  }
  return orch;
}

/** A real PNG of one colour (0xRRGGBB). */
export function solidPng(width: number, height: number, rgb: number): Buffer {
  const png = new PNG({ width, height });
  for (let i = 0; i < png.data.length; i += 4) {
    png.data[i] = (rgb >> 16) & 0xff;
    png.data[i + 1] = (rgb >> 8) & 0xff;
    png.data[i + 2] = rgb & 0xff;
    png.data[i + 3] = 255;
  }
  return PNG.sync.write(png);
}

/** Size and centre colour of a PNG: enough to tell that our image went through LoadImage → ImageScale. */
export function pngInfo(bytes: Buffer): { width: number; height: number; rgb: number } {
  const png = PNG.sync.read(bytes);
  const i = (Math.floor(png.height / 2) * png.width + Math.floor(png.width / 2)) * 4;
  return {
    width: png.width,
    height: png.height,
    rgb: (png.data[i]! << 16) | (png.data[i + 1]! << 8) | png.data[i + 2]!,
  };
}

/** The parts of a job view the media tests read. */
export interface JobJson {
  job_id: string;
  status: string;
  error: unknown;
  parameters: Record<string, unknown>;
  outputs: {
    filename: string;
    kind: string;
    content_type: string;
    size: number;
    sha256: string;
    url: string;
  }[];
}

export interface FormPart {
  name: string;
  value: string | Buffer;
  filename?: string;
  type?: string;
}

/** The body `curl -F` sends: its boundary style, part headers and CRLFs, byte for byte. */
export function curlForm(parts: FormPart[]): { body: Buffer; contentType: string } {
  const boundary = `------------------------${randomBytes(8).toString("hex")}`;
  const chunks: Buffer[] = [];
  for (const p of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"`;
    if (p.filename !== undefined) head += `; filename="${p.filename}"`;
    if (p.type !== undefined) head += `\r\nContent-Type: ${p.type}`;
    chunks.push(Buffer.from(`${head}\r\n\r\n`), Buffer.from(p.value), Buffer.from("\r\n"));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

export async function postForm(base: string, parts: FormPart[], query = "") {
  const { body, contentType } = curlForm(parts);
  const res = await fetch(`${base}/api/job${query}`, {
    method: "POST",
    headers: { "content-type": contentType },
    body,
  });
  const json = (await res.json()) as any;
  await checkContract(res.url, "POST", res.status, res.headers.get("content-type"), json);
  return { status: res.status, body: json };
}

export interface ImageServer {
  url: string;
  /** Paths requested, in order. */
  hits: string[];
  close(): Promise<void>;
}

/** Serves fixed answers on 127.0.0.1; `{ redirect }` answers 302 to that location. */
export async function startImageServer(
  routes: Record<string, { type: string; body: Buffer } | { redirect: string }>,
): Promise<ImageServer> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    const path = req.url ?? "/";
    hits.push(path);
    const answer = routes[path];
    if (!answer) return res.writeHead(404).end("not found");
    if ("redirect" in answer) return res.writeHead(302, { location: answer.redirect }).end();
    res
      .writeHead(200, { "content-type": answer.type, "content-length": answer.body.length })
      .end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
