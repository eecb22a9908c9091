// The shape of a simulated node class: what /object_info shows, what validation checks and what execution runs.
import type { Frame } from "./image.js";
import type { SimDirs } from "./paths.js";

export type InputType = string | string[];
export type InputSpec = [InputType] | [InputType, Record<string, unknown>];

export interface InputTypes {
  required: Record<string, InputSpec>;
  optional?: Record<string, InputSpec>;
  hidden?: Record<string, string>;
}

/** What node classes may look at besides their inputs; rebuilt per call so file listings stay fresh. */
export interface NodeEnv {
  dirs: SimDirs;
  checkpoints: string[];
  upscaleModels: string[];
}

/** An API-format graph: node id → {class_type, inputs, _meta}. */
export type Graph = Record<string, { class_type: string; inputs: Record<string, unknown>; _meta?: unknown }>;

export interface RunContext {
  env: NodeEnv;
  nodeId: string;
  promptId: string;
  prompt: Graph;
  extraData: Record<string, unknown>;
  stepMs: number;
  outputSizeBytes: number | undefined;
  /** Waits, failing fast if the prompt was interrupted or the host went away. */
  sleep(ms: number): Promise<void>;
  /** Reports sampler progress (and a preview frame) the way ComfyUI's progress hook does. */
  progress(value: number, max: number, preview?: Frame): Promise<void>;
}

export interface NodeResult {
  /** One value per RETURN_TYPES slot. */
  outputs: unknown[];
  /** The node's UI output (e.g. {images: [...]}), sent as `executed` and kept in history. */
  ui?: Record<string, unknown[]>;
}

export interface NodeDef {
  name: string;
  displayName: string;
  category: string;
  description: string;
  outputNode: boolean;
  returnTypes: string[];
  returnNames?: string[];
  inputTypes(env: NodeEnv): InputTypes;
  /**
   * A VALIDATE_INPUTS classmethod: the named inputs skip the generic min/max/list checks and go through
   * `check` instead; a string result becomes the error's details.
   */
  validateInputs?: {
    names: string[];
    check(inputs: Record<string, unknown>, env: NodeEnv): true | false | string;
  };
  run(inputs: Record<string, unknown>, ctx: RunContext): Promise<NodeResult>;
  /** IS_CHANGED: part of the node's cache key (LoadImage hashes its file). */
  isChanged?(inputs: Record<string, unknown>, env: NodeEnv): unknown;
  /** Written in /object_info the V3 way (`["COMBO", {"options": [...]}]`, output_tooltips, ...). */
  v3?: boolean;
  outputTooltips?: string[];
  deprecated?: boolean;
  experimental?: boolean;
}
