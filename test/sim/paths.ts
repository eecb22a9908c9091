// ComfyUI's folder_paths for the three file folders: which directory a `type` names, the "name.png [output]"
// annotation, and the commonpath checks that keep uploads and /view inside their folder.
import fs from "node:fs";
import path from "node:path";

export interface SimDirs {
  input: string;
  output: string;
  temp: string;
}

export type FolderType = keyof SimDirs;

export function makeDirs(dataDir: string): SimDirs {
  const dirs = {
    input: path.join(dataDir, "input"),
    output: path.join(dataDir, "output"),
    temp: path.join(dataDir, "temp"),
  };
  for (const dir of Object.values(dirs)) fs.mkdirSync(dir, { recursive: true });
  return dirs;
}

export function dirByType(dirs: SimDirs, type: string): string | undefined {
  return type === "input" || type === "output" || type === "temp" ? dirs[type] : undefined;
}

/** folder_paths.annotated_filepath: "x.png [output]" names a file in another folder. */
export function annotatedFilepath(dirs: SimDirs, name: string): { name: string; dir: string | undefined } {
  for (const type of ["output", "input", "temp"] as const) {
    const suffix = ` [${type}]`;
    if (name.endsWith(suffix)) return { name: name.slice(0, -suffix.length), dir: dirs[type] };
  }
  return { name, dir: undefined };
}

/** os.path.commonpath((base, p)) == base, for absolute paths. */
export function isInside(base: string, p: string): boolean {
  const rel = path.relative(path.resolve(base), path.resolve(p));
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

/** The LoadImage choice list: image files directly in the input folder, sorted. */
export function listInputImages(dirs: SimDirs): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dirs.input);
  } catch {
    return [];
  }
  return names
    .filter(
      (n) => IMAGE_EXT.test(n) && fs.statSync(path.join(dirs.input, n), { throwIfNoEntry: false })?.isFile(),
    )
    .sort();
}

const IMAGE_EXT = /\.(png|jpe?g|webp|gif|bmp|tiff?)$/i;

const CONTENT_TYPES: Record<string, string> = {
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".webp": "image/webp",
  ".gif": "image/gif",
  ".bmp": "image/bmp",
  ".tif": "image/tiff",
  ".tiff": "image/tiff",
  ".mp4": "video/mp4",
  ".webm": "video/webm",
  ".json": "application/json",
  ".txt": "text/plain",
  ".wav": "audio/x-wav",
  ".mp3": "audio/mpeg",
  ".flac": "audio/flac",
};

/** mimetypes.guess_type, with server.py's rule that active content is served as a download. */
export function contentTypeFor(filename: string): string {
  return CONTENT_TYPES[path.extname(filename).toLowerCase()] ?? "application/octet-stream";
}
