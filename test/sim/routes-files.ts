// /view and /upload/{image,mask} with server.py's path rules: uploads must stay inside their folder (400),
// clashes are renamed "x (1).png" unless the bytes are identical, /view refuses "..", absolute names and
// escaping subfolders. /view converts images for `preview=webp|jpeg;Q` and `channel=rgb|a`, and serves the
// stored bytes with Range support (206) otherwise, as aiohttp's FileResponse does.
import fs from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";
import { PNG } from "pngjs";
import sharp from "sharp";
import type { SimRuntime } from "./host-process.js";
import { readBody, SERVER_HEADER, sendErrorPage, sendJson, sendStatus } from "./http-io.js";
import { annotatedFilepath, contentTypeFor, dirByType, isInside } from "./paths.js";
import { type Route, route } from "./router.js";

async function parseForm(req: IncomingMessage): Promise<FormData | undefined> {
  const body = await readBody(req);
  try {
    return await new Request("http://127.0.0.1/upload", {
      method: "POST",
      headers: { "content-type": req.headers["content-type"] ?? "" },
      body,
      duplex: "half",
    }).formData();
  } catch {
    return undefined;
  }
}

async function sameBytes(file: string, bytes: Buffer): Promise<boolean> {
  try {
    return Buffer.compare(await fs.promises.readFile(file), bytes) === 0;
  } catch {
    return false;
  }
}

async function upload(
  rt: SimRuntime,
  req: IncomingMessage,
  res: ServerResponse,
  isMask: boolean,
): Promise<void> {
  const form = await parseForm(req);
  const image = form?.get("image");
  if (!form || !image || typeof image === "string") return sendStatus(res, 400);
  const type = String(form.get("type") ?? "input");
  const uploadDir = dirByType(rt.dirs, type);
  // server.py's get_dir_by_type leaves the folder unbound for an unknown type: an unhandled exception.
  if (!uploadDir) return sendErrorPage(res, 500);
  let filename = image.name;
  if (!filename) return sendStatus(res, 400);
  const subfolder = String(form.get("subfolder") ?? "");
  // os.path.join semantics: an absolute subfolder replaces the base, and the containment check catches it.
  const folder = path.resolve(uploadDir, path.normalize(subfolder));
  let filepath = path.resolve(folder, filename);
  if (!isInside(uploadDir, filepath)) return sendStatus(res, 400);
  await fs.promises.mkdir(folder, { recursive: true });

  const bytes = Buffer.from(await image.arrayBuffer());
  const overwrite = form.get("overwrite");
  let duplicate = false;
  if (overwrite !== "true" && overwrite !== "1") {
    const ext = path.extname(filename);
    const stem = filename.slice(0, filename.length - ext.length);
    for (let i = 1; fs.existsSync(filepath); i++) {
      if (await sameBytes(filepath, bytes)) {
        duplicate = true;
        break;
      }
      filename = `${stem} (${i})${ext}`;
      filepath = path.join(folder, filename);
    }
  }
  if (!duplicate) {
    if (isMask) await saveMask(rt, form.get("original_ref"), bytes, filepath);
    else await fs.promises.writeFile(filepath, bytes);
  }
  rt.stats.uploads++;
  sendJson(res, 200, { name: filename, subfolder, type });
}

/**
 * upload_mask: the mask's alpha is copied onto the original image named by `original_ref`. Without an
 * original_ref the bytes are stored as they are (ComfyUI would fail with a 500).
 */
async function saveMask(
  rt: SimRuntime,
  ref: File | string | null,
  bytes: Buffer,
  filepath: string,
): Promise<void> {
  if (typeof ref !== "string") return fs.promises.writeFile(filepath, bytes);
  const original = JSON.parse(ref) as { filename?: string; subfolder?: string; type?: string };
  const { name, dir } = annotatedFilepath(rt.dirs, String(original.filename ?? ""));
  const base = dir ?? dirByType(rt.dirs, original.type ?? "output");
  if (!base || name.startsWith("/") || name.includes("..")) return;
  const file = path.join(path.resolve(base, original.subfolder ?? ""), name);
  if (!isInside(base, file) || !fs.existsSync(file)) return;
  const picture = PNG.sync.read(await fs.promises.readFile(file));
  const mask = PNG.sync.read(bytes);
  for (let y = 0; y < picture.height; y++) {
    for (let x = 0; x < picture.width; x++) {
      const at = (y * picture.width + x) * 4;
      const mx = Math.min(mask.width - 1, x);
      const my = Math.min(mask.height - 1, y);
      picture.data[at + 3] = mask.data[(my * mask.width + mx) * 4 + 3] ?? 255;
    }
  }
  await fs.promises.writeFile(filepath, PNG.sync.write(picture));
}

async function view(rt: SimRuntime, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const q = url.searchParams;
  const requested = q.get("filename");
  if (requested === null) return sendStatus(res, 404);
  const annotated = annotatedFilepath(rt.dirs, requested);
  if (!annotated.name) return sendStatus(res, 400);
  if (annotated.name.startsWith("/") || annotated.name.includes("..")) return sendStatus(res, 400);
  let dir = annotated.dir ?? dirByType(rt.dirs, q.get("type") ?? "output");
  if (!dir) return sendStatus(res, 400);
  const subfolder = q.get("subfolder");
  if (subfolder !== null) {
    const full = path.resolve(dir, subfolder);
    if (!isInside(dir, full)) return sendStatus(res, 403);
    dir = full;
  }
  // server.py keeps only the basename, so "sub/x.png" without a subfolder names x.png at the top.
  const filename = path.basename(annotated.name);
  const file = path.join(dir, filename);
  const stat = await fs.promises.stat(file).catch(() => undefined);
  if (!stat?.isFile()) return sendStatus(res, 404);
  const slow = rt.faults.take("slow_view");
  if (slow) await new Promise((resolve) => setTimeout(resolve, slow.delay_ms));
  // aiohttp writes header values as UTF-8; Node writes them as latin1, so pass the UTF-8 bytes as such
  // (before Content-Length, after which Node 20 refuses bytes above 0x7f).
  const disposition = Buffer.from(`filename="${filename}"`, "utf8").toString("latin1");
  const converted = await convertImage(file, q);
  if (converted) {
    res.writeHead(200, {
      "Content-Disposition": disposition,
      "Content-Type": converted.type,
      "Content-Length": converted.bytes.length,
      Server: SERVER_HEADER,
    });
    res.end(converted.bytes);
    return;
  }
  const range = byteRange(req.headers.range, stat.size);
  if (range === "unsatisfiable") {
    res.writeHead(416, { "Content-Range": `bytes */${stat.size}`, Server: SERVER_HEADER });
    res.end();
    return;
  }
  const headers = {
    "Content-Disposition": disposition,
    "Content-Type": contentTypeFor(filename),
    "Content-Length": range ? range.end - range.start + 1 : stat.size,
    "Last-Modified": stat.mtime.toUTCString(),
    "Accept-Ranges": "bytes",
    Server: SERVER_HEADER,
  };
  if (range)
    res.writeHead(206, { ...headers, "Content-Range": `bytes ${range.start}-${range.end}/${stat.size}` });
  else res.writeHead(200, headers);
  await new Promise<void>((resolve) => {
    const stream = fs.createReadStream(file, range ?? {});
    stream.on("error", () => {
      res.destroy();
      resolve();
    });
    stream.on("end", resolve);
    stream.pipe(res);
  });
}

/** One `bytes=a-b`, `bytes=a-` or `bytes=-n` range; null for none (or a form we serve whole). */
function byteRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | "unsatisfiable" | null {
  const m = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!m || (m[1] === "" && m[2] === "")) return null;
  let start: number;
  let end: number;
  if (m[1] === "") {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(size - 1, Number(m[2]));
  }
  if (start >= size || start > end) return "unsatisfiable";
  return { start, end };
}

/** server.py's `preview` (webp or jpeg at a quality, webp when an alpha channel is asked for) and `channel`. */
async function convertImage(
  file: string,
  q: URLSearchParams,
): Promise<{ bytes: Buffer; type: string } | null> {
  const preview = q.get("preview");
  const channel = q.get("channel") ?? "";
  try {
    if (preview !== null) {
      const parts = preview.split(";");
      let format = parts[0] === "jpeg" || parts[0] === "webp" ? parts[0] : "webp";
      if (channel.includes("a")) format = "webp";
      const last = parts[parts.length - 1] ?? "";
      const quality = /^\d+$/.test(last) ? Math.min(100, Math.max(1, Number(last))) : 90;
      let img = sharp(file);
      if (format === "jpeg" || channel === "rgb") img = img.removeAlpha();
      const bytes =
        format === "jpeg" ? await img.jpeg({ quality }).toBuffer() : await img.webp({ quality }).toBuffer();
      return { bytes, type: `image/${format}` };
    }
    if (channel === "rgb")
      return { bytes: await sharp(file).removeAlpha().png().toBuffer(), type: "image/png" };
    if (channel === "a") {
      const { data, info } = await sharp(file).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
      for (let p = 0; p < data.length; p += 4) data[p] = data[p + 1] = data[p + 2] = 0;
      const bytes = await sharp(data, { raw: { width: info.width, height: info.height, channels: 4 } })
        .png()
        .toBuffer();
      return { bytes, type: "image/png" };
    }
  } catch {
    return null; // not an image (a video, say): ComfyUI would fail; serving the bytes is kinder to tests
  }
  return null;
}

export function fileRoutes(rt: SimRuntime): Route[] {
  return [
    route("GET", "/view", (req, res, url) => view(rt, req, res, url)),
    route("POST", "/upload/image", (req, res) => upload(rt, req, res, false)),
    route("POST", "/upload/mask", (req, res) => upload(rt, req, res, true)),
  ];
}
