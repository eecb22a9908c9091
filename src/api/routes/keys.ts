// Runtime API keys (admin only): create (the key is in this one answer and never again), list, revoke.
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { KEY_ID_PATTERN, KeyLimitsSchema, RoleSchema } from "../../config-auth.js";
import { AppError } from "../../errors.js";
import type { KeyRegistry } from "../auth/key-registry.js";
import { parseOrThrow } from "../error-handler.js";

const CreateKey = z
  .strictObject({
    id: z.string().regex(KEY_ID_PATTERN, "expected 1-64 letters, digits, '_', '.' or '-'").optional(),
    name: z.string().min(1).max(200).optional(),
    role: RoleSchema,
    ...KeyLimitsSchema.shape,
    expires_at: z.iso.datetime({ offset: true }).optional(),
    /** Shorthand for expires_at: this many seconds from now. */
    expires_in_s: z.number().int().positive().optional(),
  })
  .refine((k) => k.expires_at === undefined || k.expires_in_s === undefined, {
    message: 'give "expires_at" or "expires_in_s", not both',
    path: ["expires_in_s"],
  });

const IdParams = z.object({ id: z.string().min(1).max(64) });

export async function keyRoutes(app: FastifyInstance, o: { keys: KeyRegistry }): Promise<void> {
  const admin = { role: "admin" as const };
  const assertOn = () => {
    if (!o.keys.enabled) {
      throw new AppError(
        "AUTH_OFF",
        "Access control is off: add at least one admin key to auth.keys in config.yaml, then create keys here",
        { field: "auth.keys" },
      );
    }
  };

  app.post("/api/keys", { config: admin }, async (req, reply) => {
    assertOn();
    const body = parseOrThrow(CreateKey, req.body ?? {}, "");
    const { expires_in_s, ...rest } = body;
    const expires_at =
      expires_in_s !== undefined ? new Date(Date.now() + expires_in_s * 1000).toISOString() : rest.expires_at;
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
  });

  app.get("/api/keys", { config: admin }, async () => ({
    auth: o.keys.enabled ? "on" : "off",
    keys: o.keys.list(),
  }));

  app.delete("/api/keys/:id", { config: admin }, async (req) => {
    assertOn();
    const { id } = parseOrThrow(IdParams, req.params, "params");
    const view = o.keys.revoke(id);
    req.log.info({ key_id: id, by: req.principal?.id }, "api key revoked");
    return view;
  });
}
