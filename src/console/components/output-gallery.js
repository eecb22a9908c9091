// A job's outputs: images shown, videos and audio played, other files listed; each with a download link.
import { bytes } from "../lib/format.js";
import { html } from "../lib/html.js";
import { downloadWithKey, needsKey, useMediaUrl } from "../lib/media-url.js";

const MEDIA = /^(image|video|audio)\//;
/** Images the server converts (README, "Output formats"): the gallery shows a small WebP, links the original. */
const THUMBABLE = /^image\/(png|jpeg|webp)$/;
const thumbUrl = (url) => `${url}${url.includes("?") ? "&" : "?"}format=webp&width=512`;

function Media({ output, src, full }) {
  const type = output.content_type ?? "";
  if (!src) return html`<div class="media-missing muted">…</div>`;
  if (type.startsWith("image/"))
    return html`<a href=${full ?? src} target="_blank" rel="noopener"><img class="output-image" src=${src} alt=${output.filename} loading="lazy" /></a>`;
  if (type.startsWith("video/"))
    return html`<video class="output-video" src=${src} controls muted loop preload="metadata"></video>`;
  if (type.startsWith("audio/")) return html`<audio src=${src} controls preload="metadata"></audio>`;
  return html`<div class="output-file muted">${type || "file"}</div>`;
}

function OutputItem({ output: o }) {
  // Media is fetched to be shown anyway; other files only when someone downloads them.
  const media = MEDIA.test(o.content_type ?? "");
  const thumb = THUMBABLE.test(o.content_type ?? "");
  const src = useMediaUrl(thumb ? thumbUrl(o.url) : o.url, media);
  // With a key the shown blob may be the thumbnail: the original is fetched when downloaded.
  const keyedDownload = needsKey() && (!media || thumb);
  return html`<figure class="output" data-output=${o.filename}>
    <${Media} output=${o} src=${src} full=${needsKey() ? null : o.url} />
    <figcaption>
      <span class="mono output-name" title=${o.filename}>${o.filename}</span>
      <span class="muted">${bytes(o.size)}${o.project_node ? ` · ${o.project_node}` : ""}</span>
      ${
        keyedDownload
          ? html`<button class="link" onClick=${() => downloadWithKey(o.url, o.filename)}>download</button>`
          : html`<a href=${needsKey() ? src : o.url} download=${o.filename}>download</a>`
      }
    </figcaption>
  </figure>`;
}

export function OutputGallery({ outputs, expired, finished = false }) {
  if (expired) return html`<p class="muted">The outputs of this job were deleted (retention).</p>`;
  if (!outputs?.length) return html`<p class="muted">${finished ? "No outputs." : "No outputs yet."}</p>`;
  return html`<div class="gallery">${outputs.map((o) => html`<${OutputItem} key=${o.url} output=${o} />`)}</div>`;
}
