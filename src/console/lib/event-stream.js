// One WebSocket to /api/ws for the whole console: follows every job (with live previews), feeds liveJobs,
// and reconnects with backoff. After a reconnect the snapshots bring active jobs up to date; jobs that
// ended while the socket was down get no snapshot, so they are re-read once over HTTP.

import { useEffect, useState } from "preact/hooks";
import { api, apiKey, onKeyNeeded } from "./api-client.js";
import { isTerminal, liveJobs } from "./live-jobs.js";

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 10_000;

const statusListeners = new Set();
let status = "connecting";
let socket = null;
let reconnectTimer = null;
let backoff = MIN_BACKOFF_MS;
let snapshotted = new Set();
/** The server refused the socket for want of a key: say so rather than "reconnecting". */
let refused = false;

function setStatus(s) {
  status = s;
  for (const l of statusListeners) l(s);
}

export function startEventStream() {
  if (socket) return;
  clearTimeout(reconnectTimer);
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/ws`;
  const ws = new WebSocket(url);
  socket = ws;
  ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    snapshotted = new Set();
    const key = apiKey();
    if (key) ws.send(JSON.stringify({ type: "auth", token: key }));
    ws.send(JSON.stringify({ type: "subscribe", all: true, previews: true }));
  };
  ws.onmessage = (m) => {
    if (typeof m.data === "string") onText(JSON.parse(m.data));
    else onPreviewFrame(m.data);
  };
  ws.onclose = () => {
    socket = null;
    setStatus(refused ? "no key" : "reconnecting");
    reconnectTimer = setTimeout(startEventStream, backoff);
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  };
}

function onText(msg) {
  if (msg.type === "job.snapshot") snapshotted.add(msg.job_id);
  if (msg.type.startsWith("job.")) return liveJobs.onEvent(msg);
  if (msg.type === "subscribed" && msg.all) {
    refused = false;
    // Only a socket that got this far counts as working: one refused after opening keeps backing off.
    backoff = MIN_BACKOFF_MS;
    setStatus("live");
    void refreshMissed(snapshotted);
  } else if (msg.type === "error" && msg.error?.code === "UNAUTHENTICATED") {
    // The socket cannot answer a 401: ask through the HTTP client (any keyed route), which prompts for a key.
    refused = true;
    socket?.close();
    void api.workflows().catch(() => {});
  }
}

/** Jobs we thought active that got no snapshot have ended meanwhile: read their final state. */
async function refreshMissed(seen) {
  const stale = liveJobs.active().filter((j) => !seen.has(j.job_id));
  for (const j of stale.slice(0, 100)) {
    try {
      liveJobs.put(await api.job(j.job_id));
    } catch {
      // Gone (deleted, or not ours any more): drop it rather than show it running forever.
      liveJobs.jobs.delete(j.job_id);
    }
  }
}

function onPreviewFrame(buf) {
  const n = new DataView(buf).getUint32(0);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, n)));
  const job = liveJobs.get(header.job_id);
  if (job && isTerminal(job.status)) return;
  liveJobs.onPreview(header.job_id, new Blob([new Uint8Array(buf, 4 + n)], { type: header.content_type }));
}

// A new key (entered after a 401) must reach the socket too: reconnect with it now, not after the backoff.
onKeyNeeded((reason) => {
  if (reason !== null) return;
  backoff = MIN_BACKOFF_MS;
  if (socket) socket.close();
  else startEventStream();
});

/** "connecting", "live", "reconnecting" or "no key", re-rendering on change. */
export function useStreamStatus() {
  const [s, setS] = useState(status);
  useEffect(() => {
    statusListeners.add(setS);
    return () => statusListeners.delete(setS);
  }, []);
  return s;
}
