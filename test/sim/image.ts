// Real pixels for the model-free nodes: ComfyUI's IMAGE is a batch of RGB frames, held here as RGBA buffers
// with opaque alpha, and read and written as genuine PNGs through pngjs.
import { PNG } from "pngjs";
import type { PyObject } from "./python-compat.js";

export interface Frame {
  width: number;
  height: number;
  /** RGBA, 4 bytes per pixel, row-major. */
  data: Buffer;
}

/** An IMAGE value flowing between nodes; prints like the torch tensor it stands for. */
export class ImageBatch implements PyObject {
  constructor(readonly frames: Frame[]) {}
  get pyRepr(): string {
    const f = this.frames[0];
    return `tensor(shape=[${this.frames.length}, ${f?.height ?? 0}, ${f?.width ?? 0}, 3], dtype=torch.float32)`;
  }
}

export function solidFrame(width: number, height: number, rgb: number): Frame {
  const data = Buffer.alloc(width * height * 4);
  const r = (rgb >> 16) & 0xff;
  const g = (rgb >> 8) & 0xff;
  const b = rgb & 0xff;
  for (let i = 0; i < data.length; i += 4) {
    data[i] = r;
    data[i + 1] = g;
    data[i + 2] = b;
    data[i + 3] = 255;
  }
  return { width, height, data };
}

/** Encodes as 8-bit RGB, as ComfyUI's SaveImage does (IMAGE has no alpha channel). */
export function encodePng(frame: Frame, compressionLevel = 4): Buffer {
  const png = new PNG({ width: frame.width, height: frame.height, colorType: 2, inputHasAlpha: true });
  frame.data.copy(png.data);
  return PNG.sync.write(png, { colorType: 2, inputColorType: 6, deflateLevel: compressionLevel });
}

export function decodePng(bytes: Buffer): Frame {
  const png = PNG.sync.read(bytes);
  return { width: png.width, height: png.height, data: Buffer.from(png.data) };
}

export function invertFrame(f: Frame): Frame {
  const data = Buffer.from(f.data);
  for (let i = 0; i < data.length; i += 4) {
    data[i] = 255 - (data[i] ?? 0);
    data[i + 1] = 255 - (data[i + 1] ?? 0);
    data[i + 2] = 255 - (data[i + 2] ?? 0);
  }
  return { width: f.width, height: f.height, data };
}

/** Nearest-neighbour resize of the region (sx, sy, sw, sh) to width x height. */
export function resizeFrame(
  f: Frame,
  width: number,
  height: number,
  region = { x: 0, y: 0, w: f.width, h: f.height },
): Frame {
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    const srcY = region.y + Math.min(region.h - 1, Math.floor(((y + 0.5) * region.h) / height));
    for (let x = 0; x < width; x++) {
      const srcX = region.x + Math.min(region.w - 1, Math.floor(((x + 0.5) * region.w) / width));
      f.data.copy(data, (y * width + x) * 4, (srcY * f.width + srcX) * 4, (srcY * f.width + srcX) * 4 + 4);
    }
  }
  return { width, height, data };
}

/** Box blur with edge clamping; a stand-in for ComfyUI's Gaussian kernel, which tests need not match. */
export function blurFrame(f: Frame, radius: number): Frame {
  const pass = (src: Buffer, horizontal: boolean): Buffer => {
    const out = Buffer.alloc(src.length);
    for (let y = 0; y < f.height; y++) {
      for (let x = 0; x < f.width; x++) {
        const sums = [0, 0, 0];
        for (let d = -radius; d <= radius; d++) {
          const sx = horizontal ? Math.min(f.width - 1, Math.max(0, x + d)) : x;
          const sy = horizontal ? y : Math.min(f.height - 1, Math.max(0, y + d));
          const at = (sy * f.width + sx) * 4;
          for (let c = 0; c < 3; c++) sums[c] = (sums[c] ?? 0) + (src[at + c] ?? 0);
        }
        const at = (y * f.width + x) * 4;
        for (let c = 0; c < 3; c++) out[at + c] = Math.round((sums[c] ?? 0) / (2 * radius + 1));
        out[at + 3] = 255;
      }
    }
    return out;
  };
  return { width: f.width, height: f.height, data: pass(pass(f.data, true), false) };
}

/** A deterministic picture standing in for a decoded latent: a seeded gradient with seeded noise. */
export function seededFrame(width: number, height: number, seed: number, index: number): Frame {
  let state = ((Math.floor(Math.abs(seed)) % 0x100000000) ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0;
  const next = (): number => {
    // mulberry32: small, fast and good enough to make every seed look different.
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const base = [next() * 255, next() * 255, next() * 255];
  const slope = [next() * 2 - 1, next() * 2 - 1, next() * 2 - 1];
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = (y * width + x) * 4;
      const t = (x / Math.max(1, width - 1) + y / Math.max(1, height - 1)) / 2;
      for (let c = 0; c < 3; c++) {
        const v = (base[c] ?? 0) + (slope[c] ?? 0) * 160 * t + (next() - 0.5) * 24;
        data[at + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
      data[at + 3] = 255;
    }
  }
  return { width, height, data };
}
