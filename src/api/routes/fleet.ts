// Changing the fleet while running: add a host, change its scheduling fields, remove it (drained first).
// The Fleet does the work and stores every change; see README, "Changing the fleet".
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Scheduler } from "../../core/engine/scheduler.js";
import type { Fleet } from "../../core/fleet/fleet.js";
import type { HostViews } from "../../core/fleet/host-views.js";
import { AppError } from "../../errors.js";
import { errorResponses } from "../schemas/common.js";
import {
  type Backend,
  BackendIdParams,
  BackendPatchSchema,
  BackendSchema,
  NewBackendSchema,
} from "../schemas/fleet.js";

const TAGS = ["backends"];

/** The address is a host's identity: changing it is adding another host. */
const FIXED = ["id", "host", "port", "tls"] as const;

export async function fleetRoutes(
  fastify: FastifyInstance,
  o: { fleet: Fleet; scheduler: Scheduler; hosts: HostViews },
): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const describe = (m: Parameters<Scheduler["describe"]>[0]) => o.hosts.one(m) as Backend;

  app.get(
    "/api/backends/:id",
    {
      config: { role: "read" },
      schema: {
        tags: TAGS,
        summary: "One backend",
        params: BackendIdParams,
        response: { 200: BackendSchema.describe("The backend"), ...errorResponses("BACKEND_NOT_FOUND") },
      },
    },
    async (req) => describe(o.scheduler.get(req.params.id)),
  );

  app.post(
    "/api/backends",
    {
      config: { role: "admin" },
      schema: {
        tags: TAGS,
        summary: "Add a backend",
        description:
          "Adds a ComfyUI host while running; it takes work as soon as it is online. Stored in the database, " +
          "so it is still there after a restart. Its id must not be taken by config.yaml or the API.",
        body: NewBackendSchema,
        response: {
          201: BackendSchema.describe("The new backend"),
          ...errorResponses("BACKEND_EXISTS"),
        },
      },
    },
    async (req, reply) => reply.code(201).send(describe(o.fleet.add(req.body))),
  );

  app.patch(
    "/api/backends/:id",
    {
      config: { role: "admin" },
      // The address fields get a message of their own instead of the generic "unknown field".
      preValidation: async (req) => {
        const body = req.body;
        if (!body || typeof body !== "object" || Array.isArray(body)) return;
        const fixed = FIXED.filter((k) => k in body);
        if (!fixed.length) return;
        const fields = fixed.map((k) => ({
          field: k,
          message: "cannot be changed: add a backend with the new address and delete this one",
        }));
        throw new AppError("VALIDATION_FAILED", `Invalid request: ${fixed.join(", ")} cannot be changed`, {
          fields,
        });
      },
      schema: {
        tags: TAGS,
        summary: "Change a backend",
        description:
          "Scheduling fields change at once; running jobs are not touched. Stored: for a config.yaml host the " +
          "change holds until that host's entry in the file is edited.",
        params: BackendIdParams,
        body: BackendPatchSchema,
        response: {
          200: BackendSchema.describe("The backend after the change"),
          ...errorResponses("BACKEND_NOT_FOUND", "BACKEND_REMOVING"),
        },
      },
    },
    async (req) => describe(o.fleet.patch(req.params.id, req.body)),
  );

  app.delete(
    "/api/backends/:id",
    {
      config: { role: "admin" },
      schema: {
        tags: TAGS,
        summary: "Remove a backend (drained first)",
        description:
          "The host takes no new work; its running jobs finish; then it is removed. 202 while it drains " +
          "(state `removing`), 200 when nothing was running and it is gone already.",
        params: BackendIdParams,
        response: {
          200: BackendSchema.describe("The backend as it was; state `removed`"),
          202: BackendSchema.describe("The backend, draining before its removal"),
          ...errorResponses("BACKEND_NOT_FOUND"),
        },
      },
    },
    async (req, reply) => {
      const m = o.scheduler.get(req.params.id);
      const view = describe(m);
      if (o.fleet.remove(req.params.id)) return reply.code(200).send({ ...view, state: "removed" });
      return reply.code(202).send(describe(m));
    },
  );
}
