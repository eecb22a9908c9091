// Output files as <img>/<video> sources and downloads. With no API key the URL is used as it is (the
// browser streams and caches it); with a key the file is fetched with the key and used as a blob, since
// media elements and links cannot send an Authorization header.
import { useEffect, useState } from "preact/hooks";
import { apiKey, authHeaders } from "./api-client.js";

export const needsKey = () => apiKey() !== null;

async function fetchBlob(url, signal) {
  const r = await fetch(url, { headers: authHeaders(), signal });
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  return r.blob();
}

/** A source for `url`; null while a keyed fetch is under way (or when `enabled` is false and a key is needed). */
export function useMediaUrl(url, enabled = true) {
  const keyed = needsKey();
  const [src, setSrc] = useState(keyed ? null : url);
  useEffect(() => {
    if (!keyed) {
      setSrc(url);
      return;
    }
    if (!enabled) return;
    const ctrl = new AbortController();
    let blobUrl = null;
    fetchBlob(url, ctrl.signal).then(
      (b) => {
        blobUrl = URL.createObjectURL(b);
        setSrc(blobUrl);
      },
      () => setSrc(null),
    );
    return () => {
      ctrl.abort();
      if (blobUrl) URL.revokeObjectURL(blobUrl);
    };
  }, [url, keyed, enabled]);
  return src;
}

/** Saves a file that needs the key, through a blob and a temporary link. */
export async function downloadWithKey(url, filename) {
  const blobUrl = URL.createObjectURL(await fetchBlob(url));
  const a = document.createElement("a");
  a.href = blobUrl;
  a.download = filename;
  a.click();
  setTimeout(() => URL.revokeObjectURL(blobUrl), 60_000);
}
