// Re-renders every `ms` so relative times ("12 s ago") stay true without any network traffic.
import { useEffect, useState } from "preact/hooks";

export function useTick(ms) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}
