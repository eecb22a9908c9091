// The OpenAPI document and the docs: the document is valid OpenAPI 3.1, describes every route with its
// errors, the live events and each workflow's parameters; /docs and its assets are served from the repo.
import { compileErrors, validate } from "@readme/openapi-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, expectError } from "../helpers/api.js";
import { checkContract } from "../helpers/contract.js";
import { type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";

let orch: RunningOrchestrator;
let doc: any;

beforeAll(async () => {
  orch = await startOrchestrator({ backends: [] });
  const r = await api(orch.url, "GET", "/api/openapi.json");
  expect(r.status).toBe(200);
  doc = r.body;
});
afterAll(async () => {
  await orch?.stop();
});

describe("GET /api/openapi.json", () => {
  it("is a valid OpenAPI 3.1 document", async () => {
    expect(doc.openapi).toBe("3.1.0");
    // validate() dereferences in place: give it a copy.
    const result = await validate(structuredClone(doc));
    expect(result.valid, result.valid ? "" : compileErrors(result)).toBe(true);
  });

  it("describes every route, with a summary and the error body on its error statuses", () => {
    const expected = [
      "post /api/job",
      "get /api/job/{id}",
      "delete /api/job/{id}",
      "post /api/job/{id}/cancel",
      "delete /api/job/{id}/outputs",
      "get /api/job/{id}/outputs/{filename}",
      "get /api/job/{id}/events",
      "get /api/jobs",
      "get /api/ws",
      "get /api/workflows",
      "get /api/workflows/{id}",
      "get /api/backends",
      "post /api/backends/{id}/{action}",
      "get /api/health",
    ];
    const have = Object.entries(doc.paths).flatMap(([p, ops]: [string, any]) =>
      Object.keys(ops).map((m) => `${m} ${p}`),
    );
    expect(have).toEqual(expect.arrayContaining(expected));
    for (const [p, ops] of Object.entries<any>(doc.paths)) {
      for (const [m, op] of Object.entries<any>(ops)) {
        expect(op.summary, `${m} ${p}`).toBeTruthy();
        for (const [status, res] of Object.entries<any>(op.responses)) {
          if (Number(status) < 400 || (p === "/api/health" && status === "503")) continue;
          expect(res.content["application/json"].schema, `${m} ${p} ${status}`).toEqual({
            $ref: "#/components/schemas/Error",
          });
          expect(res.description).toMatch(/`[A-Z_]+`/);
        }
      }
    }
  });

  it("lists the error codes a route can answer", () => {
    const cancel = doc.paths["/api/job/{id}"].delete.responses;
    expect(cancel["404"].description).toContain("JOB_NOT_FOUND");
    expect(cancel["409"].description).toContain("JOB_FINISHED");
    const submit = doc.paths["/api/job"].post.responses;
    expect(submit["400"].description).toContain("PARAMETER_INVALID");
    expect(submit["422"].description).toContain("NO_CAPABLE_BACKEND");
    expect(doc.components.schemas.Error.properties.error.properties.details.properties.fields).toBeTruthy();
  });

  it("takes the manifest as JSON or multipart, with the README's examples", () => {
    const body = doc.paths["/api/job"].post.requestBody.content;
    expect(Object.keys(body)).toEqual(["application/json", "multipart/form-data"]);
    const ref = (x: { $ref: string }) => doc.components.schemas[x.$ref.split("/").pop()!];
    // A single-workflow manifest or a project: one schema each.
    const [manifest, project] = ref(body["application/json"].schema).anyOf.map(ref);
    expect(manifest.required).toContain("workflow_id");
    expect(manifest.examples[0]).toMatchObject({ workflow_id: "txt2img_basic" });
    expect(project.required).toContain("project");
    expect(project.examples[0].project.nodes[1].parameters.image).toEqual({ from: "shot1" });
  });

  it("describes the WebSocket and SSE event types", () => {
    const s = doc.components.schemas;
    const types = s.JobEvent.oneOf.map((e: any) => e.properties.type.const);
    expect(types).toEqual(
      expect.arrayContaining([
        "job.snapshot",
        "job.queued",
        "job.progress",
        "job.output",
        "job.completed",
        "job.failed",
        "job.cancelled",
      ]),
    );
    expect(s.WsClientMessage).toBeTruthy();
    expect(JSON.stringify(s.WsServerMessage)).toContain('"subscribed"');
    const sse = doc.paths["/api/job/{id}/events"].get.responses["200"].content["text/event-stream"];
    expect(sse.schema.$ref).toBe("#/components/schemas/JobEvent");
  });

  it("includes each loaded workflow's parameters", async () => {
    const wf = await api(orch.url, "GET", "/api/workflows/txt2img_basic");
    const inDoc = doc.components.schemas.WorkflowParameters_txt2img_basic;
    expect(inDoc.properties.prompt).toEqual(wf.body.parameters_schema.properties.prompt);
    expect(doc.components.schemas.WorkflowParameters_invert_image).toBeTruthy();
  });
});

describe("the contract check", () => {
  it("refuses a body or a status the document does not declare", async () => {
    const url = `${orch.url}/api/health`;
    await expect(checkContract(url, "GET", 200, "application/json", { status: "fine" })).rejects.toThrow(
      /does not match/,
    );
    await expect(checkContract(url, "GET", 418, "application/json", {})).rejects.toThrow(/not declared/);
    await expect(checkContract(`${orch.url}/api/nope`, "GET", 200, "text/plain", "")).rejects.toThrow(
      /not in the OpenAPI document/,
    );
  });
});

describe("route schemas", () => {
  it("answer bad input with the documented error, naming the field", async () => {
    const q = await api(orch.url, "GET", "/api/jobs?limit=0&bogus=1");
    expectError(q, 400, "VALIDATION_FAILED");
    expect(q.body.error.details.fields.map((f: any) => f.field).sort()).toEqual([
      "query.bogus",
      "query.limit",
    ]);
    const b = await api(orch.url, "POST", "/api/job", [1, 2]);
    expectError(b, 400, "VALIDATION_FAILED");
    expect(b.body.error.details.fields[0].field).toBe("body");
    const p = await api(orch.url, "POST", "/api/backends/nope/explode");
    expectError(p, 400, "VALIDATION_FAILED");
    expect(p.body.error.details.fields[0].field).toBe("params.action");
  });
});

describe("/docs", () => {
  it("serves the interactive reference and every asset it loads, from this server", async () => {
    const page = await fetch(`${orch.url}/docs/`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain("swagger-ui");
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThan(2);
    for (const a of assets) {
      expect(a, "an asset from another host would not load offline").not.toMatch(/^https?:/);
      const res = await fetch(new URL(a, `${orch.url}/docs/`));
      expect(res.status, a).toBe(200);
    }
    const init = await (await fetch(`${orch.url}/docs/static/swagger-initializer.js`)).text();
    const spec = await fetch(new URL("json", `${orch.url}/docs/`));
    expect(spec.status).toBe(200);
    expect(init).toContain("json");
    expect(((await spec.json()) as any).components.schemas.WorkflowParameters_txt2img_basic).toBeTruthy();
  });
});
