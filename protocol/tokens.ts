import { z } from 'zod';

/** Roles of API tokens. admin ⊇ operator ⊇ client; enrollment and worker tokens only reach their routes. */
export const TOKEN_ROLES = ['admin', 'operator', 'client', 'enrollment', 'worker'] as const;
export const tokenRoleSchema = z.enum(TOKEN_ROLES);
export type TokenRole = z.infer<typeof tokenRoleSchema>;

export const createTokenRequestSchema = z
  .object({ role: z.enum(['admin', 'operator', 'client', 'enrollment']), name: z.string().min(1).max(200).optional() })
  .strict();
export const createTokenResponseSchema = z.object({
  id: z.number().int(),
  role: tokenRoleSchema,
  name: z.string().nullable(),
  token: z.string(),
});

export const healthResponseSchema = z.object({ status: z.enum(['ok', 'degraded']), database: z.enum(['ok', 'unreachable']) });
