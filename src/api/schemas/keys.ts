// API keys as the API speaks them: what an admin sends to create one, and what lists show (never a key
// or its hash; the key itself is in the create answer only).
import { z } from "zod";
import { KEY_ID_PATTERN, KeyLimitsSchema, RoleSchema } from "../../config-auth.js";

export const CreateKeySchema = z
  .strictObject({
    id: z
      .string()
      .regex(KEY_ID_PATTERN, "expected 1-64 letters, digits, '_', '.' or '-'")
      .optional()
      .meta({ description: "Recorded as the `owner` of the key's jobs; generated when absent" }),
    name: z.string().min(1).max(200).optional(),
    role: RoleSchema.meta({ description: "`read` < `submit` < `admin`" }),
    ...KeyLimitsSchema.shape,
    expires_at: z.iso.datetime({ offset: true }).optional(),
    expires_in_s: z
      .number()
      .int()
      .positive()
      .optional()
      .meta({ description: "Shorthand for expires_at: this many seconds from now" }),
  })
  .refine((k) => k.expires_at === undefined || k.expires_in_s === undefined, {
    message: 'give "expires_at" or "expires_in_s", not both',
    path: ["expires_in_s"],
  })
  .meta({
    id: "CreateKey",
    examples: [{ id: "storyboard", name: "StoryboardUI2", role: "submit", max_queued: 500 }],
  });

export const KeyViewSchema = z
  .looseObject({
    id: z.string(),
    name: z.string().nullable(),
    role: RoleSchema,
    source: z.enum(["config", "api"]).meta({ description: "`config`: from config.yaml; `api`: made here" }),
    rate_limit_per_min: z.number().int().meta({ description: "Effective limit (0: none)" }),
    max_queued: z.number().int().meta({ description: "Effective limit (0: none)" }),
    expires_at: z.string().nullable(),
    created_at: z.string().nullable(),
    created_by: z.string().nullable(),
    revoked_at: z.string().nullable(),
  })
  .meta({ id: "ApiKey" });

export const CreatedKeySchema = KeyViewSchema.extend({
  key: z.string().meta({ description: "The key: shown in this answer only, store it now" }),
  message: z.string(),
}).meta({ id: "CreatedApiKey" });

export const KeyListSchema = z.looseObject({
  auth: z.enum(["on", "off"]),
  keys: z.array(KeyViewSchema),
});

export const KeyIdParams = z.object({ id: z.string().min(1).max(64) });
