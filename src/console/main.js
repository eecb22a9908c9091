// The console's entry point: open the event stream and mount the app.
import { render } from "preact";
import { AppShell } from "./components/app-shell.js";
import { startEventStream } from "./lib/event-stream.js";
import { html } from "./lib/html.js";

startEventStream();
const root = document.getElementById("app");
root.replaceChildren();
render(html`<${AppShell} />`, root);
