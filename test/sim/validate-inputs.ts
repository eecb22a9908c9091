// execution.validate_inputs for one node and, recursively, the nodes it links to: link checks, Python-style
// conversion of literals, min/max and choice lists, and VALIDATE_INPUTS classmethods.
import type { Graph, InputSpec, NodeDef, NodeEnv } from "./node-types.js";
import { PyException, pyBool, pyFloat, pyFloatStr, pyInt, pyRepr, pyStr } from "./python-compat.js";

export interface ErrorItem {
  type: string;
  message: string;
  details: string;
  extra_info: Record<string, unknown>;
}

export type Verdict = { ok: boolean; errors: ErrorItem[] };

export const TRACEBACK = [
  "  File \"/ComfyUI/execution.py\", line 1024, in validate_inputs\n    o_class_type = prompt[o_id]['class_type']\n",
];

export function getItem(obj: unknown, key: unknown): unknown {
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
    throw new PyException("TypeError", "list indices must be integers or slices, not str");
  }
  if (typeof key !== "string" || !(key in obj)) throw new PyException("KeyError", pyRepr(key));
  return (obj as Record<string, unknown>)[key];
}

/** comfy_execution.validation.validate_node_input. */
export function typesMatch(received: unknown, wanted: unknown): boolean {
  if (received === wanted) return true;
  if (typeof received !== "string" || typeof wanted !== "string") return false;
  const r = new Set(received.split(",").map((t) => t.trim()));
  const w = new Set(wanted.split(",").map((t) => t.trim()));
  if (r.has("*") || w.has("*")) return true;
  return [...r].every((t) => w.has(t));
}

function convert(type: unknown, val: unknown): unknown {
  if (type === "INT") return pyInt(val);
  if (type === "FLOAT") return pyFloat(val);
  if (type === "STRING") return pyStr(val);
  if (type === "BOOLEAN") return pyBool(val);
  return val;
}

function fmtNumber(type: unknown, v: unknown): string {
  return type === "FLOAT" && typeof v === "number" ? pyFloatStr(v) : pyStr(v);
}

export class InputValidator {
  constructor(
    private readonly prompt: Graph,
    private readonly registry: Map<string, NodeDef>,
    private readonly env: NodeEnv,
    private readonly validated: Map<string, Verdict>,
    private readonly visiting = new Set<string>(),
  ) {}

  validate(id: string): Verdict {
    const known = this.validated.get(id);
    if (known) return known;
    if (this.visiting.has(id)) {
      throw new PyException(
        "RecursionError",
        "maximum recursion depth exceeded while calling a Python object",
      );
    }
    this.visiting.add(id);
    try {
      const verdict = this.validateNode(id);
      this.validated.set(id, verdict);
      return verdict;
    } finally {
      this.visiting.delete(id);
    }
  }

  private validateNode(id: string): Verdict {
    const node = getItem(this.prompt, id);
    const inputs = getItem(node, "inputs");
    if (typeof inputs !== "object" || inputs === null || Array.isArray(inputs)) {
      throw new PyException("TypeError", `argument of type '${typeof inputs}' is not iterable`);
    }
    const values = inputs as Record<string, unknown>;
    const def = this.registry.get(getItem(node, "class_type") as string)!;
    const types = def.inputTypes(this.env);
    const customNames = def.validateInputs?.names ?? [];
    const errors: ErrorItem[] = [];
    let valid = true;
    const specs: Array<[string, InputSpec, boolean]> = [
      ...Object.entries(types.required).map(([k, s]): [string, InputSpec, boolean] => [k, s, true]),
      ...Object.entries(types.optional ?? {}).map(([k, s]): [string, InputSpec, boolean] => [k, s, false]),
    ];

    for (const [x, info, required] of specs) {
      if (!(x in values)) {
        if (required) {
          errors.push(item("required_input_missing", "Required input is missing", x, { input_name: x }));
        }
        continue;
      }
      let val = values[x];
      const type = info[0];
      const extra = info[1] ?? {};
      if (Array.isArray(val)) {
        const linkError = this.checkLink(x, val, info);
        if (linkError === "invalid") valid = false;
        else if (linkError) errors.push(linkError);
        continue;
      }
      try {
        if (typeof val === "object" && val !== null && "__value__" in val) {
          val = (val as { __value__: unknown }).__value__;
          values[x] = val;
        }
        const converted = convert(type, val);
        if (converted !== val) values[x] = converted;
        val = converted;
      } catch (ex) {
        const e = asPy(ex);
        errors.push(
          item(
            "invalid_input_type",
            `Failed to convert an input value to a ${pyStr(type)} value`,
            `${x}, ${pyStr(val)}, ${e.message}`,
            {
              input_name: x,
              input_config: info,
              received_value: val,
              exception_message: e.message,
            },
          ),
        );
        continue;
      }
      if (customNames.includes(x)) continue;
      const bad = this.checkValue(x, val, type, extra, info);
      if (bad) errors.push(bad);
    }

    if (def.validateInputs) {
      const filtered = Object.fromEntries(
        def.validateInputs.names.filter((n) => n in values).map((n) => [n, values[n]]),
      );
      const r = def.validateInputs.check(filtered, this.env);
      if (r !== true) {
        for (const x of Object.keys(filtered)) {
          const details = r === false ? x : `${x} - ${r}`;
          errors.push(
            item("custom_validation_failed", "Custom validation failed for node", details, { input_name: x }),
          );
        }
      }
    }
    return { ok: errors.length === 0 && valid, errors };
  }

  /** Returns an error for this input, "invalid" when only an upstream node failed, or undefined. */
  private checkLink(x: string, val: unknown[], info: InputSpec): ErrorItem | "invalid" | undefined {
    if (val.length !== 2) {
      return item(
        "bad_linked_input",
        "Bad linked input, must be a length-2 list of [node_id, slot_index]",
        x,
        {
          input_name: x,
          input_config: info,
          received_value: val,
        },
      );
    }
    const [oId, slot] = val;
    const linked = getItem(this.prompt, oId);
    const oDef = this.registry.get(getItem(linked, "class_type") as string);
    if (!oDef) throw new PyException("KeyError", pyRepr(getItem(linked, "class_type")));
    const received = returnTypeAt(oDef.returnTypes, slot);
    if (!typesMatch(received, info[0])) {
      return item(
        "return_type_mismatch",
        "Return type mismatch between linked nodes",
        `${x}, received_type(${received}) mismatch input_type(${pyStr(info[0])})`,
        { input_name: x, input_config: info, received_type: received, linked_node: val },
      );
    }
    try {
      return this.validate(oId as string).ok ? undefined : "invalid";
    } catch (ex) {
      const e = asPy(ex);
      this.validated.set(oId as string, {
        ok: false,
        errors: [
          item("exception_during_inner_validation", "Exception when validating inner node", e.message, {
            input_name: x,
            input_config: info,
            exception_message: e.message,
            exception_type: e.pyType,
            traceback: TRACEBACK,
            linked_node: val,
          }),
        ],
      });
      return "invalid";
    }
  }

  private checkValue(
    x: string,
    val: unknown,
    type: unknown,
    extra: Record<string, unknown>,
    info: InputSpec,
  ): ErrorItem | undefined {
    const min = extra.min as number | bigint | undefined;
    const max = extra.max as number | bigint | undefined;
    const extraInfo = { input_name: x, input_config: info, received_value: val };
    if (min !== undefined && typeof val === "number" && val < Number(min)) {
      const msg = `Value ${fmtNumber(type, val)} smaller than min of ${fmtNumber(type, Number(min))}`;
      return item("value_smaller_than_min", msg, x, extraInfo);
    }
    if (max !== undefined && typeof val === "number" && val > Number(max)) {
      const shown = typeof max === "bigint" ? max.toString() : fmtNumber(type, max);
      return item(
        "value_bigger_than_max",
        `Value ${fmtNumber(type, val)} bigger than max of ${shown}`,
        x,
        extraInfo,
      );
    }
    if (Array.isArray(type) && !type.includes(val as string)) {
      // ComfyUI does not echo gigantic choice lists (e.g. every model file) back.
      const long = type.length > 20;
      const listInfo = long ? `(list of length ${type.length})` : pyRepr(type);
      return item("value_not_in_list", "Value not in list", `${x}: '${pyStr(val)}' not in ${listInfo}`, {
        input_name: x,
        input_config: long ? null : info,
        received_value: val,
      });
    }
    return undefined;
  }
}

function returnTypeAt(types: string[], slot: unknown): string {
  if (typeof slot !== "number" || !Number.isInteger(slot)) {
    throw new PyException(
      "TypeError",
      `tuple indices must be integers or slices, not ${slot === null ? "NoneType" : typeof slot === "string" ? "str" : typeof slot}`,
    );
  }
  const t = types[slot < 0 ? types.length + slot : slot];
  if (t === undefined) throw new PyException("IndexError", "tuple index out of range");
  return t;
}

export function item(
  type: string,
  message: string,
  details: string,
  extra: Record<string, unknown>,
): ErrorItem {
  return { type, message, details, extra_info: extra };
}

export function asPy(ex: unknown): PyException {
  return ex instanceof PyException
    ? ex
    : new PyException("Exception", ex instanceof Error ? ex.message : String(ex));
}
