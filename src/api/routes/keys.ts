// Runtime API keys (admin only): create (the key is in this one answer and never again), list, revoke.
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { AppError } from "../../errors.js";
import type { KeyRegistry } from "../auth/key-registry.js";
import { errorResponses } from "../schemas/common.js";
import {
  CreatedKeySchema,
  CreateKeySchema,
  KeyIdParams,
  KeyListSchema,
  KeyViewSchema,
} from "../schemas/keys.js";

const TAGS = ["keys"];
const ADMIN = { role: "admin" as const };

export async function keyRoutes(fastify: FastifyInstance, o: { keys: KeyRegistry }): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const assertOn = () => {
    if (!o.keys.enabled) {
      throw new AppError(
        "AUTH_OFF",
        "Access control is off: add at least one admin key to auth.keys in config.yaml, then create keys here",
        { field: "auth.keys" },
      );
    }
  };

  app.post(
    "/api/keys",
    {
      config: ADMIN,
      schema: {
        tags: TAGS,
        summary: "Create an API key",
        description: "Only its sha256 is stored: the `key` in this answer is the only time it is shown.",
        body: CreateKeySchema,
        response: { 201: CreatedKeySchema, ...errorResponses("KEY_CONFLICT", "AUTH_OFF") },
      },
    },
    async (req, reply) => {
      assertOn();
      const { expires_in_s, ...rest } = req.body;
      const expires_at =
        expires_in_s !== undefined
          ? new Date(Date.now() + expires_in_s * 1000).toISOString()
          : rest.expires_at;
      if (expires_at !== undefined && Date.parse(expires_at) <= Date.now()) {
        throw new AppError("VALIDATION_FAILED", `expires_at: ${expires_at} is not in the future`, {
          fields: [{ field: "expires_at", message: "must be in the future" }],
        });
      }
      const { key, view } = o.keys.create({ ...rest, expires_at }, req.principal?.id ?? null);
      req.log.info({ key_id: view.id, role: view.role, by: req.principal?.id }, "api key created");
      return reply.code(201).send({
        ...view,
        key,
        message: "Store this key now: it is not shown again (only its sha256 is kept)",
      });
    },
  );

  app.get(
    "/api/keys",
    {
      config: ADMIN,
      schema: {
        tags: TAGS,
        summary: "List API keys",
        description: "Keys from config.yaml and made here, revoked ones included; never a key or its hash.",
        response: { 200: KeyListSchema, ...errorResponses() },
      },
    },
    async () => ({ auth: o.keys.enabled ? ("on" as const) : ("off" as const), keys: o.keys.list() }),
  );

  app.delete(
    "/api/keys/:id",
    {
      config: ADMIN,
      schema: {
        tags: TAGS,
        summary: "Revoke an API key",
        description:
          "Requests with it answer 401 from now on; its jobs stay. Keys from config.yaml are removed there.",
        params: KeyIdParams,
        response: { 200: KeyViewSchema, ...errorResponses("KEY_NOT_FOUND", "KEY_CONFLICT", "AUTH_OFF") },
      },
    },
    async (req) => {
      assertOn();
      const view = o.keys.revoke(req.params.id);
      req.log.info({ key_id: req.params.id, by: req.principal?.id }, "api key revoked");
      return view;
    },
  );
}
