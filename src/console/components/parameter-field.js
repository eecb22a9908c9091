// One workflow parameter as a form control, chosen from its JSON Schema and its declared type: text,
// numbers with their bounds, choices, a seed with a "random" toggle, an image by file picker or drop.
import { useState } from "preact/hooks";
import { html } from "../lib/html.js";

/** What kind of control a parameter gets. */
export function fieldKind(schema, summary) {
  const type = summary?.type ?? schema.type;
  if (type === "seed") return "seed";
  if (type === "image") return "image";
  if (choicesOf(schema, summary)) return "choice";
  if (type === "boolean") return "boolean";
  if (type === "integer" || type === "number") return "number";
  return "text";
}

export function choicesOf(schema, summary) {
  if (summary?.choices) return summary.choices;
  if (Array.isArray(schema.enum)) return schema.enum;
  const alts = schema.anyOf ?? schema.oneOf;
  if (Array.isArray(alts) && alts.every((a) => "const" in a)) return alts.map((a) => a.const);
  if ("const" in schema) return [schema.const];
  return null;
}

function ImageInput({ name, value, onChange }) {
  const [over, setOver] = useState(false);
  const file = value instanceof File ? value : null;
  const pick = (files) => files?.[0] && onChange(files[0]);
  return html`<div
    class=${`drop ${over ? "over" : ""}`}
    onDragOver=${(e) => {
      e.preventDefault();
      setOver(true);
    }}
    onDragLeave=${() => setOver(false)}
    onDrop=${(e) => {
      e.preventDefault();
      setOver(false);
      pick(e.dataTransfer.files);
    }}
  >
    <input type="file" name=${name} accept="image/png,image/jpeg,image/webp,image/gif" onChange=${(e) => pick(e.currentTarget.files)} />
    <span class="muted">${file ? `${file.name} (${Math.round(file.size / 1024)} KB)` : "or drop an image here"}</span>
    <input
      type="text"
      class="image-ref"
      placeholder="or a URL, or job:<job_id>/<filename>"
      value=${typeof value === "string" ? value : ""}
      onInput=${(e) => onChange(e.currentTarget.value)}
    />
  </div>`;
}

export function ParameterField({ name, schema, summary, required, value, error, onChange }) {
  const kind = fieldKind(schema, summary);
  const min = schema.minimum ?? summary?.min;
  const max = schema.maximum ?? summary?.max;
  const description = summary?.description ?? schema.description;
  let control;
  switch (kind) {
    case "seed":
      control = html`<div class="seed">
        <label class="inline"><input type="checkbox" name=${`${name}__random`} checked=${value.random}
          onChange=${(e) => onChange({ ...value, random: e.currentTarget.checked })} /> random</label>
        <input type="number" name=${name} step="1" min=${min} max=${max} disabled=${value.random}
          value=${value.value} onInput=${(e) => onChange({ ...value, value: e.currentTarget.value })} />
      </div>`;
      break;
    case "image":
      control = html`<${ImageInput} name=${name} value=${value} onChange=${onChange} />`;
      break;
    case "choice": {
      const choices = choicesOf(schema, summary);
      control = html`<select name=${name} value=${String(choices.indexOf(value))}
        onChange=${(e) => onChange(choices[Number(e.currentTarget.value)])}>
        ${required || value !== undefined ? null : html`<option value="-1">—</option>`}
        ${choices.map((c, i) => html`<option value=${String(i)}>${String(c)}</option>`)}
      </select>`;
      break;
    }
    case "boolean":
      control = html`<input type="checkbox" name=${name} checked=${Boolean(value)} onChange=${(e) => onChange(e.currentTarget.checked)} />`;
      break;
    case "number":
      control = html`<input type="number" name=${name} min=${min} max=${max}
        step=${(summary?.type ?? schema.type) === "integer" ? "1" : "any"}
        value=${value ?? ""} onInput=${(e) => onChange(e.currentTarget.value)} />
        ${min !== undefined || max !== undefined ? html`<span class="muted range">${min ?? "…"} – ${max ?? "…"}</span>` : null}`;
      break;
    default:
      control = /prompt|text/i.test(name)
        ? html`<textarea name=${name} rows="3" value=${value ?? ""} onInput=${(e) => onChange(e.currentTarget.value)}></textarea>`
        : html`<input type="text" name=${name} value=${value ?? ""} onInput=${(e) => onChange(e.currentTarget.value)} />`;
  }
  return html`<div class=${`field field-${kind} ${error ? "has-error" : ""}`} data-field=${name}>
    <label class="field-name">${name}${required ? html`<span class="req" title="required">*</span>` : null}</label>
    <div class="field-control">${control}</div>
    ${description ? html`<div class="muted hint">${description}</div>` : null}
    ${error ? html`<div class="error-text field-error">${error}</div>` : null}
  </div>`;
}
