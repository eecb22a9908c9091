// The contract check: every response a test receives from the Orchestrator must be one its OpenAPI document
// (GET /api/openapi.json) declares, for that route and status, with a body that validates against the
// declared schema. The shared HTTP helpers call it on every response, so the document cannot drift.
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";

interface Operation {
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}
interface Doc {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown> };
}

interface Contract {
  routes: { template: string; pattern: RegExp; literals: number; ops: Record<string, Operation> }[];
  validator(schema: unknown): ValidateFunction;
}

const contracts = new Map<string, Promise<Contract>>();
let lastDoc: Doc | null = null;

async function loadDoc(origin: string): Promise<Doc> {
  try {
    const res = await fetch(`${origin}/api/openapi.json`, { signal: AbortSignal.timeout(10_000) });
    if (res.status !== 200) throw new Error(`GET /api/openapi.json answered ${res.status}`);
    lastDoc = (await res.json()) as Doc;
    return lastDoc;
  } catch (err) {
    // A server already stopped (restart tests) still answered its last requests under the same document.
    if (lastDoc) return lastDoc;
    throw err;
  }
}

function build(doc: Doc): Contract {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  // Response schemas point at "#/components/schemas/…": give every compiled schema that root.
  const cache = new Map<unknown, ValidateFunction>();
  const routes = Object.entries(doc.paths).map(([template, ops]) => {
    const segments = template.split("/");
    const pattern = new RegExp(
      `^${segments.map((s) => (s.startsWith("{") ? "[^/]+" : s.replace(/[.*+?^$()|[\]\\]/g, "\\$&"))).join("/")}$`,
    );
    return { template, pattern, literals: segments.filter((s) => !s.startsWith("{")).length, ops };
  });
  routes.sort((a, b) => b.literals - a.literals);
  return {
    routes,
    validator(schema) {
      let v = cache.get(schema);
      if (!v) {
        v = ajv.compile({ ...(schema as object), components: doc.components });
        cache.set(schema, v);
      }
      return v;
    },
  };
}

function contractFor(origin: string): Promise<Contract> {
  let c = contracts.get(origin);
  if (!c) {
    c = loadDoc(origin).then(build);
    contracts.set(origin, c);
    c.catch(() => contracts.delete(origin));
  }
  return c;
}

/** Throws when a response is not one the document declares (route, method, status, JSON body). */
export async function checkContract(
  url: string,
  method: string,
  status: number,
  contentType: string | null,
  body: unknown,
): Promise<void> {
  const u = new URL(url);
  const c = await contractFor(u.origin);
  const what = `${method} ${u.pathname} → ${status}`;
  const route = c.routes.find((r) => r.pattern.test(u.pathname));
  const op = route?.ops[method.toLowerCase()];
  const json = contentType?.includes("application/json") ?? false;
  if (!route || !op) {
    // Unknown routes and methods are still answered in the one error shape.
    if (status < 400) throw new Error(`contract: ${what} is not in the OpenAPI document`);
    if (json) assertValid(c, { $ref: "#/components/schemas/Error" }, body, what);
    return;
  }
  const declared =
    op.responses[String(status)] ?? op.responses[`${String(status)[0]}XX`] ?? op.responses.default;
  if (!declared)
    throw new Error(
      `contract: ${what} is not declared for ${method} ${route.template} (declared: ${Object.keys(op.responses).join(", ")}); add it to the route's schema.response`,
    );
  if (!json) return;
  const schema = declared.content?.["application/json"]?.schema;
  if (!schema) throw new Error(`contract: ${what} sent JSON but the document declares no JSON body`);
  assertValid(c, schema, body, what);
}

function assertValid(c: Contract, schema: unknown, body: unknown, what: string): void {
  const validate = c.validator(schema);
  if (validate(body)) return;
  const problems = (validate.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || "/"} ${e.message}`);
  throw new Error(
    `contract: the body of ${what} does not match the OpenAPI document: ${problems.join("; ")}\n${JSON.stringify(body).slice(0, 500)}`,
  );
}

/** A fetch that holds every answer to the contract (for the typed client in tests). */
export const contractFetch: typeof fetch = async (input, init) => {
  const res = await fetch(input, init);
  const type = res.headers.get("content-type");
  const method = init?.method ?? "GET";
  let body: unknown = null;
  if (type?.includes("application/json")) body = await res.clone().json();
  await checkContract(res.url, method, res.status, type, body);
  return res;
};

/** Throws unless `value` matches a named schema of the document (e.g. each JobEvent a stream delivers). */
export async function checkComponent(origin: string, name: string, value: unknown): Promise<void> {
  const c = await contractFor(new URL(origin).origin);
  assertValid(c, { $ref: `#/components/schemas/${name}` }, value, `a ${name}`);
}
