// The console's only way to the server: the public HTTP API, with the API key (when access control is on)
// kept in this tab's session storage. A 401 asks the person for a key and then retries the request.

const KEY_STORAGE = "orchestrator.api_key";
const REQUEST_TIMEOUT_MS = 30_000;

/** An API error in the documented shape: `code`, `message`, `details` (with `fields` for bad input). */
export class ApiError extends Error {
  constructor(status, body) {
    const err = body?.error ?? {};
    super(err.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = err.code ?? `HTTP_${status}`;
    this.details = err.details ?? null;
  }
}

const keyListeners = new Set();
let waitingForKey = null;

export function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
  const waiting = waitingForKey;
  waitingForKey = null;
  for (const l of keyListeners) l(null);
  waiting?.resolve();
}

/** Called with a reason while the server wants a key, with null once one was given. */
export function onKeyNeeded(listener) {
  keyListeners.add(listener);
  return () => keyListeners.delete(listener);
}

function askForKey(reason) {
  if (!waitingForKey) {
    let resolve;
    const promise = new Promise((r) => {
      resolve = r;
    });
    waitingForKey = { promise, resolve };
  }
  for (const l of keyListeners) l(reason);
  return waitingForKey.promise;
}

export function authHeaders() {
  const key = apiKey();
  return key ? { authorization: `Bearer ${key}` } : {};
}

/** fetch() with the key, a timeout, and the API's JSON errors turned into ApiError. */
export async function request(method, path, { body, signal, headers = {} } = {}) {
  for (;;) {
    const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    const init = {
      method,
      headers: { ...authHeaders(), ...headers },
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    };
    if (body instanceof FormData) init.body = body;
    else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["content-type"] = "application/json";
    }
    const res = await fetch(path, init);
    const text = await res.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = { error: { message: text.slice(0, 200) } };
    }
    if (res.status === 401) {
      await askForKey(apiKey() ? "That API key was not accepted." : "This server needs an API key.");
      continue;
    }
    if (!res.ok) throw new ApiError(res.status, json);
    return json;
  }
}

export const api = {
  backends: () => request("GET", "/api/backends"),
  backendAction: (id, action) => request("POST", `/api/backends/${encodeURIComponent(id)}/${action}`),
  workflows: () => request("GET", "/api/workflows"),
  workflow: (id) => request("GET", `/api/workflows/${encodeURIComponent(id)}`),
  job: (id) => request("GET", `/api/job/${encodeURIComponent(id)}`),
  jobs: (query) => request("GET", `/api/jobs?${new URLSearchParams(query)}`),
  cancel: (id) => request("POST", `/api/job/${encodeURIComponent(id)}/cancel`),
  submit: (body) => request("POST", "/api/job", { body }),
  health: () => request("GET", "/api/health"),
};
