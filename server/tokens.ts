import { createHash, randomBytes } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { TokenRole } from '../protocol/tokens';
import { ApiToken } from '../entities';

/** A new bearer token: 32 random bytes, url-safe; the prefix makes leaked tokens easy to spot. */
export function generateToken(): string {
  return `wst_${randomBytes(32).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Stores the hash of a new token and returns the token, which is never stored nor shown again. */
export async function createApiToken(
  em: EntityManager,
  role: TokenRole,
  options: { name?: string | null; workerId?: number; token?: string } = {},
): Promise<{ id: number; token: string }> {
  const token = options.token ?? generateToken();
  const row = em.create(ApiToken, {
    role,
    name: options.name ?? null,
    tokenHash: hashToken(token),
    worker: options.workerId ?? null,
  });
  await em.flush();
  return { id: row.id, token };
}

/** Makes sure a known token (from the environment or credentials file) is accepted with `role`. */
export async function ensureApiToken(em: EntityManager, role: TokenRole, token: string, name: string): Promise<void> {
  await em.execute(
    `insert into api_token (role, name, token_hash, created_at) values (?, ?, ?, now())
     on conflict (token_hash) do update set revoked_at = null, role = excluded.role`,
    [role, name, hashToken(token)],
  );
}
