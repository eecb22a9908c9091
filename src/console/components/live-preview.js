// The newest sampler preview ComfyUI sent for a running job (binary frames on /api/ws), if any.
import { html } from "../lib/html.js";
import { useLiveJobs } from "../lib/live-jobs.js";

export function LivePreview({ jobId, size = "small" }) {
  const live = useLiveJobs();
  const src = live.previews.get(jobId);
  if (!src) return null;
  return html`<img class=${`preview preview-${size}`} src=${src} alt="live preview" />`;
}
