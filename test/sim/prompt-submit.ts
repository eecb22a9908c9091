// server.py's post_prompt: queue numbers (front = negative), client-chosen prompt ids, extra_data with the
// client_id folded in, validation, and the exact 200/400 bodies.
import { randomUUID } from "node:crypto";
import type { HostProcess, SimRuntime } from "./host-process.js";
import type { Graph } from "./node-types.js";
import { PyException, pyBool, pyFloat, pyStr } from "./python-compat.js";
import { validatePrompt } from "./validation.js";

/** Keys ComfyUI moves out of extra_data before queueing, so they never show in /queue or /history. */
const SENSITIVE_EXTRA_DATA_KEYS = ["auth_token_comfy_org", "api_key_comfy_org"];

export interface Submission {
  status: 200 | 400;
  body: Record<string, unknown>;
}

/** Throws PyException where ComfyUI would answer 500 (a body that is not an object, say). */
export function submitPrompt(rt: SimRuntime, proc: HostProcess, json: unknown): Submission {
  // `"prompt" in json_data` is valid Python on a list too: a list body is simply one without a prompt.
  if (Array.isArray(json) && !json.some((v) => v === "prompt" || v === "number" || v === "front")) {
    proc.nextNumber++;
    return noPrompt(rt);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new PyException("TypeError", "list indices must be integers or slices, not str");
  }
  const body = json as Record<string, unknown>;
  let number: number;
  if ("number" in body) {
    number = pyFloat(body.number);
  } else {
    number = proc.nextNumber;
    if ("front" in body && pyBool(body.front)) number = -number;
    proc.nextNumber++;
  }

  if (!("prompt" in body)) return noPrompt(rt);
  const prompt = body.prompt;
  const promptId = "prompt_id" in body ? pyStr(body.prompt_id) : randomUUID();
  const valid = validatePrompt(prompt, rt.registry, rt.env(), body.partial_execution_targets);

  const extraData = "extra_data" in body ? body.extra_data : {};
  if (typeof extraData !== "object" || extraData === null || Array.isArray(extraData)) {
    throw new PyException("TypeError", "'str' object does not support item assignment");
  }
  const extra = extraData as Record<string, unknown>;
  if ("client_id" in body) extra.client_id = body.client_id;

  if (!valid.ok) {
    rt.stats.promptsRejected++;
    rt.log(`prompt rejected ${valid.error.type}: ${valid.error.message}`);
    return { status: 400, body: { error: valid.error, node_errors: valid.nodeErrors } };
  }
  for (const key of SENSITIVE_EXTRA_DATA_KEYS) delete extra[key];
  extra.create_time = Date.now();
  proc.queue.put([number, promptId, prompt as Graph, extra, valid.outputs]);
  return { status: 200, body: { prompt_id: promptId, number, node_errors: valid.nodeErrors } };
}

function noPrompt(rt: SimRuntime): Submission {
  const error = {
    type: "no_prompt",
    message: "No prompt provided",
    details: "No prompt provided",
    extra_info: {},
  };
  rt.stats.promptsRejected++;
  return { status: 400, body: { error, node_errors: {} } };
}
