// What server.py's websocket_handler does with a new /ws connection: register the session, greet it with the
// queue status and its sid, re-send the running node to a reconnecting owner, answer feature_flags.
import type { WebSocket } from "ws";
import type { HostProcess } from "./host-process.js";
import { MAX_BODY_BYTES } from "./http-io.js";
import type { WsHub } from "./ws-hub.js";

export function acceptClient(hub: WsHub, proc: HostProcess, ws: WebSocket, clientId: string | null): void {
  const sid = hub.attach(ws, clientId);
  hub.send("status", { status: proc.queueInfo(), sid }, sid);
  // On reconnect, the client whose prompt is running hears which node it is on (without a prompt_id, as ComfyUI).
  const cur = proc.executor.current;
  if (cur && cur.clientId === sid && cur.lastNodeId !== null)
    hub.send("executing", { node: cur.lastNodeId }, sid);
  let first = true;
  ws.on("message", (data, isBinary) => {
    if (isBinary) return;
    try {
      const msg = JSON.parse(data.toString()) as { type?: string; data?: unknown };
      // Only a client's first message may negotiate features, as in server.py.
      if (first && msg.type === "feature_flags") {
        const flags = msg.data && typeof msg.data === "object" ? (msg.data as Record<string, unknown>) : {};
        hub.setFlags(sid, flags);
        hub.send("feature_flags", SERVER_FEATURES, sid);
      }
    } catch {
      // ComfyUI ignores text it cannot parse.
    }
    first = false;
  });
}

/** comfy_api.feature_flags.SERVER_FEATURE_FLAGS. */
export const SERVER_FEATURES = { supports_preview_metadata: true, max_upload_size: MAX_BODY_BYTES };
