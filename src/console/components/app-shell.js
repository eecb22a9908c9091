// The frame around every page: navigation, the live-connection indicator, the API key prompt, and the
// page the hash route names.
import { apiKey, setApiKey } from "../lib/api-client.js";
import { useStreamStatus } from "../lib/event-stream.js";
import { html } from "../lib/html.js";
import { href, useRoute } from "../lib/router.js";
import { ApiKeyPrompt } from "./api-key-prompt.js";
import { FleetView } from "./fleet-view.js";
import { JobPage } from "./job-page.js";
import { JobsPage } from "./jobs-page.js";
import { SubmitForm } from "./submit-form.js";

function Page({ route }) {
  switch (route.page) {
    case "jobs":
      return html`<${JobsPage} key=${`${route.query.status}|${route.query.workflow}`} query=${route.query} />`;
    case "job":
      return html`<${JobPage} key=${route.arg} id=${route.arg} />`;
    case "submit":
      return html`<${SubmitForm} workflowId=${route.query.workflow} />`;
    default:
      return html`<${FleetView} />`;
  }
}

export function AppShell() {
  const route = useRoute();
  const stream = useStreamStatus();
  const tab = (page, label) =>
    html`<a href=${href(page)} class=${route.page === page || (page === "jobs" && route.page === "job") ? "active" : ""}>${label}</a>`;
  return html`<header class="topbar">
      <a class="brand" href=${href("fleet")}>Orchestrator</a>
      <nav>${tab("fleet", "Fleet")}${tab("jobs", "Jobs")}${tab("submit", "Submit")}</nav>
      <span class=${`stream stream-${stream}`} title="live events (/api/ws)">${stream}</span>
      ${apiKey() ? html`<button class="link" onClick=${() => setApiKey(null)}>forget key</button>` : null}
    </header>
    <main>
      <${Page} route=${route.page === "fleet" || !route.page ? { ...route, page: "fleet" } : route} />
    </main>
    <${ApiKeyPrompt} />`;
}
