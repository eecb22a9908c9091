// `POST /api/job` as multipart/form-data (what `curl -F` sends): a `manifest` part holding the JSON
// manifest plus one file part per image parameter, named after it. The files become data: URLs in the
// manifest's parameters, so both kinds of submit go through the same validation and image checks.
import fastifyMultipart from "@fastify/multipart";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { WorkflowStorage } from "../core/storage/workflow-storage.js";
import { AppError, type FieldProblem } from "../errors.js";

export interface MultipartSubmitOptions {
  /** Per file part (media.max_image_mb). */
  maxImageBytes: number;
  /** All parts together, like the JSON body limit (server.body_limit_mb). */
  maxBodyBytes: number;
  workflows: WorkflowStorage;
}

const MANIFEST = "manifest";
/** Far more file parts than any workflow has image parameters; bounds the work a request can cause. */
const MAX_FILES = 16;

/** Enables multipart bodies in the calling plugin's scope only. */
export async function registerMultipart(app: FastifyInstance, o: MultipartSubmitOptions): Promise<void> {
  await app.register(fastifyMultipart, {
    // An oversize file is reported for its parameter (see `truncated` below), not as a failed body.
    throwFileSizeLimit: false,
    limits: {
      fileSize: o.maxImageBytes,
      fieldSize: o.maxBodyBytes,
      files: MAX_FILES,
      fields: 4,
      parts: MAX_FILES + 4,
      headerPairs: 64,
    },
  });
}

interface FilePart {
  name: string;
  bytes: Buffer;
  truncated: boolean;
}

/** Reads the whole multipart body into a manifest object (not yet validated against ManifestSchema). */
export async function manifestFromMultipart(
  req: FastifyRequest,
  o: MultipartSubmitOptions,
): Promise<Record<string, unknown>> {
  const problems: FieldProblem[] = [];
  const files: FilePart[] = [];
  let manifestRaw: unknown;
  let budget = o.maxBodyBytes;
  try {
    for await (const part of req.parts()) {
      if (part.type === "file") {
        const chunks: Buffer[] = [];
        for await (const chunk of part.file as AsyncIterable<Buffer>) {
          budget -= chunk.length;
          if (budget < 0)
            throw new AppError(
              "PAYLOAD_TOO_LARGE",
              `The multipart body is larger than ${o.maxBodyBytes} bytes`,
              { field: "body", limit: o.maxBodyBytes },
            );
          chunks.push(chunk);
        }
        const bytes = Buffer.concat(chunks);
        if (part.fieldname === MANIFEST)
          manifestRaw = manifestRaw === undefined ? bytes.toString("utf8") : duplicate(problems);
        else files.push({ name: part.fieldname, bytes, truncated: part.file.truncated });
      } else if (part.fieldname === MANIFEST) {
        if (part.valueTruncated)
          problems.push({ field: MANIFEST, message: `larger than ${o.maxBodyBytes} bytes` });
        else manifestRaw = manifestRaw === undefined ? part.value : duplicate(problems);
      } else {
        problems.push({
          field: part.fieldname,
          message: `unexpected field: send "${MANIFEST}" and one file part per image parameter`,
        });
      }
    }
  } catch (err) {
    throw asClientError(err);
  }
  if (manifestRaw === undefined && !problems.some((p) => p.field === MANIFEST)) {
    problems.push({
      field: MANIFEST,
      message: `missing: send the job manifest as a part named "${MANIFEST}"`,
    });
  }
  const manifest = problems.length === 0 ? parseManifest(manifestRaw, problems) : null;
  if (!manifest) throw invalid(problems);

  const parameters = { ...((manifest.parameters ?? {}) as Record<string, unknown>) };
  const imageParams = imageParametersOf(o.workflows, manifest.workflow_id);
  const tooLarge: FieldProblem[] = [];
  for (const f of files) {
    const field = `parameters.${f.name}`;
    const type = imageParams?.get(f.name);
    if (imageParams && type === undefined)
      problems.push({
        field,
        message: `file part "${f.name}" names no parameter of workflow "${String(manifest.workflow_id)}"`,
      });
    else if (imageParams && type !== "image")
      problems.push({
        field,
        message: `file part "${f.name}": this is a ${type} parameter, not an image; set it in the manifest`,
      });
    else if (f.name in parameters)
      problems.push({ field, message: `given both in the manifest and as a file part` });
    else if (f.bytes.length === 0) problems.push({ field, message: "the file part is empty" });
    else if (f.truncated) tooLarge.push({ field, message: `image is larger than ${o.maxImageBytes} bytes` });
    else parameters[f.name] = `data:application/octet-stream;base64,${f.bytes.toString("base64")}`;
  }
  if (problems.length > 0) throw invalid(problems);
  if (tooLarge.length > 0) throw new AppError("MEDIA_INVALID", describe(tooLarge), { fields: tooLarge });
  return files.length > 0 ? { ...manifest, parameters } : manifest;
}

function duplicate(problems: FieldProblem[]): undefined {
  problems.push({ field: MANIFEST, message: "sent more than once" });
  return undefined;
}

function parseManifest(raw: unknown, problems: FieldProblem[]): Record<string, unknown> | null {
  let value = raw;
  if (typeof raw === "string") {
    try {
      value = JSON.parse(raw);
    } catch (err) {
      problems.push({ field: MANIFEST, message: `not valid JSON: ${(err as Error).message}` });
      return null;
    }
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    problems.push({ field: MANIFEST, message: "expected a JSON object (a job manifest)" });
    return null;
  }
  return value as Record<string, unknown>;
}

/** Parameter name → type, or null when the workflow cannot be looked up (the submit then reports why). */
function imageParametersOf(workflows: WorkflowStorage, id: unknown): Map<string, string> | null {
  if (typeof id !== "string") return null;
  try {
    return new Map(Object.entries(workflows.get(id).parameters).map(([name, p]) => [name, p.type]));
  } catch {
    return null;
  }
}

const describe = (problems: FieldProblem[]) => problems.map((p) => `${p.field}: ${p.message}`).join("; ");
const invalid = (problems: FieldProblem[]) =>
  new AppError("VALIDATION_FAILED", `Invalid multipart submit: ${describe(problems)}`, { fields: problems });

/** The parser's own errors, as our catalogue's: every one is a problem with the request body. */
function asClientError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const e = err as { code?: string; message?: string };
  switch (e.code) {
    case "FST_INVALID_JSON_FIELD_ERROR":
      return invalid([{ field: MANIFEST, message: "declared application/json but is not valid JSON" }]);
    case "FST_PARTS_LIMIT":
    case "FST_FILES_LIMIT":
    case "FST_FIELDS_LIMIT":
      return new AppError("PAYLOAD_TOO_LARGE", `Too many multipart parts (at most ${MAX_FILES} files)`, {
        field: "body",
        reason: e.message,
      });
    default:
      return invalid([{ field: "body", message: `malformed multipart body: ${e.message ?? String(err)}` }]);
  }
}
