// How config problems name a key: `backends[1].port` from zod's ["backends", 1, "port"].
export function formatKeyPath(keys: readonly PropertyKey[]): string {
  let out = "";
  for (const k of keys) out += typeof k === "number" ? `[${k}]` : out ? `.${String(k)}` : String(k);
  return out || "(root)";
}
