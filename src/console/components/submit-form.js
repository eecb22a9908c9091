// Submit a job: pick a workflow, fill a form rendered from its parameters_schema, set a priority, submit,
// then land on the job page. Images go as multipart file parts; everything else as a JSON manifest.
// The server's field errors (details.fields) are shown beside the fields they name.
import { useEffect, useState } from "preact/hooks";
import { api } from "../lib/api-client.js";
import { html } from "../lib/html.js";
import { navigate } from "../lib/router.js";
import { choicesOf, fieldKind, ParameterField } from "./parameter-field.js";

function initialValues(wf) {
  const props = wf.parameters_schema?.properties ?? {};
  const values = {};
  for (const [name, schema] of Object.entries(props)) {
    const summary = wf.parameters?.[name];
    const kind = fieldKind(schema, summary);
    const def = summary?.default ?? schema.default;
    if (kind === "seed")
      values[name] = { random: true, value: def !== undefined && def >= 0 ? String(def) : "" };
    else if (kind === "choice")
      values[name] = def ?? (summary?.required ? choicesOf(schema, summary)[0] : undefined);
    else if (kind === "number") values[name] = def !== undefined ? String(def) : "";
    else if (kind === "boolean") values[name] = def ?? false;
    else values[name] = def ?? "";
  }
  return values;
}

/** The manifest's parameters and the files to upload; blank optional fields are left to the defaults. */
function collect(wf, values) {
  const parameters = {};
  const files = {};
  for (const [name, schema] of Object.entries(wf.parameters_schema?.properties ?? {})) {
    const v = values[name];
    const kind = fieldKind(schema, wf.parameters?.[name]);
    if (kind === "seed") {
      if (!v.random && v.value !== "") parameters[name] = Number(v.value);
    } else if (kind === "image") {
      if (v instanceof File) files[name] = v;
      else if (v) parameters[name] = v;
    } else if (kind === "number") {
      if (v !== "") parameters[name] = Number(v);
    } else if (kind === "text") {
      if (v !== "") parameters[name] = v;
    } else if (v !== undefined) parameters[name] = v;
  }
  return { parameters, files };
}

function fieldErrors(err) {
  const out = {};
  for (const f of err?.details?.fields ?? []) {
    const name = String(f.field).replace(/^parameters\./, "");
    out[name] = out[name] ? `${out[name]}; ${f.message}` : f.message;
  }
  return out;
}

export function SubmitForm({ workflowId }) {
  const [workflows, setWorkflows] = useState(null);
  const [wf, setWf] = useState(null);
  const [values, setValues] = useState({});
  const [priority, setPriority] = useState("0");
  const [error, setError] = useState(null);
  const [sending, setSending] = useState(false);

  useEffect(() => {
    api.workflows().then((r) => setWorkflows(r.workflows), setError);
  }, []);
  const usable = (workflows ?? []).filter((w) => w.valid);
  const chosen = workflowId ?? usable[0]?.id;
  useEffect(() => {
    if (!chosen) return;
    setWf(null);
    setError(null);
    api.workflow(chosen).then((w) => {
      setWf(w);
      setValues(initialValues(w));
    }, setError);
  }, [chosen]);

  const submit = async (e) => {
    e.preventDefault();
    setSending(true);
    setError(null);
    const { parameters, files } = collect(wf, values);
    const manifest = { workflow_id: wf.id, parameters, priority: Number(priority) || 0 };
    let body = manifest;
    if (Object.keys(files).length > 0) {
      body = new FormData();
      body.append(
        "manifest",
        new Blob([JSON.stringify(manifest)], { type: "application/json" }),
        "manifest.json",
      );
      for (const [name, file] of Object.entries(files)) body.append(name, file, file.name);
    }
    try {
      const r = await api.submit(body);
      navigate("job", r.job_id);
    } catch (err) {
      setError(err);
    } finally {
      setSending(false);
    }
  };

  if (!workflows) return html`<p class="muted">${error?.message ?? "Loading workflows…"}</p>`;
  const errors = fieldErrors(error);
  const schema = wf?.parameters_schema;
  return html`<section class="submit">
    <div class="page-head"><h2>Submit a job</h2></div>
    <form class="card submit-form" onSubmit=${submit}>
      <div class="field">
        <label class="field-name" for="workflow">workflow</label>
        <div class="field-control">
          <select id="workflow" name="workflow" value=${chosen} onChange=${(e) => navigate("submit", null, { workflow: e.currentTarget.value })}>
            ${(workflows ?? []).map(
              (w) =>
                html`<option value=${w.id} disabled=${!w.valid}>${w.valid ? `${w.id} — ${w.name}` : `${w.id} (failed to load)`}</option>`,
            )}
          </select>
        </div>
        ${wf?.description ? html`<div class="muted hint">${wf.description}</div>` : null}
      </div>
      ${
        schema
          ? Object.entries(schema.properties ?? {}).map(
              ([name, s]) => html`<${ParameterField}
                key=${`${wf.id}.${name}`}
                name=${name}
                schema=${s}
                summary=${wf.parameters?.[name]}
                required=${(schema.required ?? []).includes(name)}
                value=${values[name]}
                error=${errors[name]}
                onChange=${(v) => setValues((old) => ({ ...old, [name]: v }))}
              />`,
            )
          : html`<p class="muted">Loading parameters…</p>`
      }
      <div class=${`field ${errors.priority ? "has-error" : ""}`} data-field="priority">
        <label class="field-name" for="priority">priority</label>
        <div class="field-control">
          <input id="priority" type="number" name="priority" step="1" min="-1000" max="1000" value=${priority}
            onInput=${(e) => setPriority(e.currentTarget.value)} />
          <span class="muted range">higher runs first</span>
        </div>
        ${errors.priority ? html`<div class="error-text field-error">${errors.priority}</div>` : null}
      </div>
      ${error ? html`<div class="job-error" role="alert"><strong class="mono">${error.code ?? "ERROR"}</strong> ${error.message}</div>` : null}
      <div class="actions"><button type="submit" class="primary" disabled=${!wf || sending}>${sending ? "Submitting…" : "Submit"}</button></div>
    </form>
  </section>`;
}
