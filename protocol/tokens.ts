import { z } from 'zod';
import { durationSchema } from './units';

/** Roles of API tokens. admin ⊇ operator ⊇ client; enrollment and worker tokens only reach their routes. */
export const TOKEN_ROLES = ['admin', 'operator', 'client', 'enrollment', 'worker'] as const;
export const tokenRoleSchema = z.enum(TOKEN_ROLES);
export type TokenRole = z.infer<typeof tokenRoleSchema>;

export const createTokenRequestSchema = z
  .object({
    role: z.enum(['admin', 'operator', 'client', 'enrollment']),
    name: z.string().min(1).max(200).optional(),
    /** The token stops working this long after its creation: seconds, or "90m", "12h", "30d" (at most 365 days). */
    expires_in: durationSchema.optional(),
  })
  .strict();
export const createTokenResponseSchema = z.object({
  id: z.number().int(),
  role: tokenRoleSchema,
  name: z.string().nullable(),
  expires_at: z.string().nullable(),
  token: z.string(),
});

/** A token as listed: everything but the secret (which is never stored). `worker` names a worker token's worker. */
export const apiTokenSchema = z.object({
  id: z.number().int(),
  role: tokenRoleSchema,
  name: z.string().nullable(),
  worker: z.string().nullable(),
  created_at: z.string(),
  last_used_at: z.string().nullable(),
  expires_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
});
export type ApiTokenInfo = z.infer<typeof apiTokenSchema>;
export const tokenListSchema = z.object({ tokens: z.array(apiTokenSchema) });

export const healthResponseSchema = z.object({ status: z.enum(['ok', 'degraded']), database: z.enum(['ok', 'unreachable']) });
