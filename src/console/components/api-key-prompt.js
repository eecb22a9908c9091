// Asks for an API key when the server answers 401; the key stays in this tab's session storage only.
import { useEffect, useState } from "preact/hooks";
import { onKeyNeeded, setApiKey } from "../lib/api-client.js";
import { html } from "../lib/html.js";

export function ApiKeyPrompt() {
  const [reason, setReason] = useState(null);
  const [key, setKey] = useState("");
  useEffect(() => onKeyNeeded(setReason), []);
  if (!reason) return null;
  const submit = (e) => {
    e.preventDefault();
    if (key.trim()) setApiKey(key.trim());
    setKey("");
  };
  return html`<div class="modal-backdrop">
    <form class="card modal api-key-prompt" onSubmit=${submit}>
      <h2>API key</h2>
      <p>${reason}</p>
      <input type="password" name="api_key" autocomplete="off" placeholder="paste your key" value=${key}
        onInput=${(e) => setKey(e.currentTarget.value)} autofocus />
      <p class="muted">Kept in this browser tab only (session storage), sent as <code>Authorization: Bearer …</code>.</p>
      <div class="actions"><button type="submit" class="primary">Use this key</button></div>
    </form>
  </div>`;
}
