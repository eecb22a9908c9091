// Hash routes (#/fleet, #/jobs?status=failed, #/job/ID, #/submit?workflow=ID): deep links work with no
// server-side fallback route, and the browser's back button moves between pages.

import { useEffect, useState } from "preact/hooks";

export function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#\/?/, "");
  const [pathPart, queryPart = ""] = raw.split("?");
  const parts = (pathPart || "fleet").split("/").map(decodeURIComponent);
  return { page: parts[0], arg: parts[1] ?? null, query: Object.fromEntries(new URLSearchParams(queryPart)) };
}

export function href(page, arg, query) {
  const q = query ? new URLSearchParams(Object.entries(query).filter(([, v]) => v)).toString() : "";
  return `#/${page}${arg ? `/${encodeURIComponent(arg)}` : ""}${q ? `?${q}` : ""}`;
}

export function navigate(page, arg, query) {
  location.hash = href(page, arg, query);
}

export function useRoute() {
  const [route, setRoute] = useState(parseHash());
  useEffect(() => {
    const on = () => setRoute(parseHash());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}
