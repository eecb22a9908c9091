// A strict reader of the Prometheus text exposition format (0.0.4): throws on any line that is not a
// comment, a blank or a well-formed sample, so a test that reads metrics also checks the format.
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/y;

export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) {
      if (line.startsWith("# TYPE ") && !/^# TYPE \S+ (counter|gauge|histogram|summary|untyped)$/.test(line))
        throw new Error(`bad TYPE line: ${line}`);
      continue;
    }
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a Prometheus sample: ${line}`);
    const labels: Record<string, string> = {};
    const body = m[3] ?? "";
    LABEL.lastIndex = 0;
    while (LABEL.lastIndex < body.length) {
      const start = LABEL.lastIndex;
      const l = LABEL.exec(body);
      if (!l || LABEL.lastIndex === start) throw new Error(`bad labels in: ${line}`);
      labels[l[1]!] = l[2]!.replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
    }
    const raw = m[4]!;
    // Prometheus reads values with Go's ParseFloat, which takes NaN and Inf in any case.
    const lower = raw.toLowerCase();
    const value = lower === "+inf" || lower === "inf" ? Infinity : lower === "-inf" ? -Infinity : Number(raw);
    if (Number.isNaN(value) && lower !== "nan") throw new Error(`bad value in: ${line}`);
    out.push({ name: m[1]!, labels, value });
  }
  return out;
}

/** The value of the one sample with this name whose labels include `labels` (0 when there is none). */
export function sampleValue(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const hits = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  return hits.reduce((n, s) => n + s.value, 0);
}

export async function scrape(base: string): Promise<{ samples: Sample[]; text: string; type: string }> {
  const res = await fetch(`${base}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const text = await res.text();
  return { samples: parsePrometheus(text), text, type: res.headers.get("content-type") ?? "" };
}
