// Output files as <img>/<video> sources. With no API key the URL is used as it is (the browser streams and
// caches it); with a key the file is fetched with the key and shown from a blob, since media elements
// cannot send an Authorization header.
import { useEffect, useState } from "preact/hooks";
import { apiKey, authHeaders } from "./api-client.js";

export function useMediaUrl(url) {
  const needsKey = apiKey() !== null;
  const [src, setSrc] = useState(needsKey ? null : url);
  useEffect(() => {
    if (!needsKey) {
      setSrc(url);
      return;
    }
    const ctrl = new AbortController();
    let blobUrl = null;
    fetch(url, { headers: authHeaders(), signal: ctrl.signal })
      .then((r) => (r.ok ? r.blob() : Promise.reject(new Error(`HTTP ${r.status}`))))
      .then((b) => {
        blobUrl = URL.createObjectURL(b);
        setSrc(blobUrl);
      })
      .catch(() => setSrc(null));
    return () => {
      ctrl.abort();
      if (blobUrl) URL.revokeObjectURL(blobUrl);
    };
  }, [url, needsKey]);
  return src;
}
