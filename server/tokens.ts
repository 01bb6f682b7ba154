import { createHash, randomBytes } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { ApiTokenInfo, TokenRole } from '../protocol/tokens';
import { ApiToken } from '../entities';
import { CHANNELS } from './notifications';
import { transactional } from './transactional';

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
  options: { name?: string | null; workerId?: number; token?: string; expiresInS?: number } = {},
): Promise<{ id: number; token: string; expiresAt: Date | null }> {
  const token = options.token ?? generateToken();
  const expiresAt = options.expiresInS === undefined ? null : new Date(Date.now() + options.expiresInS * 1000);
  const row = em.create(ApiToken, {
    role,
    name: options.name ?? null,
    tokenHash: hashToken(token),
    worker: options.workerId ?? null,
    expiresAt,
  });
  await em.flush();
  return { id: row.id, token, expiresAt };
}

interface TokenRow {
  id: string;
  role: TokenRole;
  name: string | null;
  worker: string | null;
  created_at: Date;
  last_used_at: Date | null;
  expires_at: Date | null;
  revoked_at: Date | null;
}

const TOKEN_COLUMNS = `t.id, t.role, t.name, w.name as worker, t.created_at, t.last_used_at, t.expires_at, t.revoked_at`;

/** Every token, oldest first, without its hash. */
export async function listApiTokens(em: EntityManager): Promise<ApiTokenInfo[]> {
  const rows = await em.execute<TokenRow[]>(`select ${TOKEN_COLUMNS} from api_token t left join worker w on w.id = t.worker_id order by t.id`);
  return rows.map(serializeToken);
}

/**
 * Revokes a token (a second revoke keeps the first time) and, in the same transaction, tells every server
 * process sharing the database to forget what it cached about tokens. Null when there is no such token.
 */
export async function revokeApiToken(em: EntityManager, id: number): Promise<ApiTokenInfo | null> {
  return transactional(em, async (tem) => {
    const rows = await tem.execute<TokenRow[]>(
      `with revoked as (update api_token set revoked_at = coalesce(revoked_at, now()) where id = ? returning *)
       select ${TOKEN_COLUMNS} from revoked t left join worker w on w.id = t.worker_id`,
      [id],
    );
    if (rows.length === 0) return null;
    await tem.execute(`select pg_notify(?, ?)`, [CHANNELS.credentials, String(id)]);
    return serializeToken(rows[0]);
  });
}

function serializeToken(row: TokenRow): ApiTokenInfo {
  const iso = (value: Date | null) => (value === null ? null : new Date(value).toISOString());
  return {
    id: Number(row.id),
    role: row.role,
    name: row.name,
    worker: row.worker,
    created_at: new Date(row.created_at).toISOString(),
    last_used_at: iso(row.last_used_at),
    expires_at: iso(row.expires_at),
    revoked_at: iso(row.revoked_at),
  };
}

/** Makes sure a known token (from the environment or credentials file) is accepted with `role`. */
export async function ensureApiToken(em: EntityManager, role: TokenRole, token: string, name: string): Promise<void> {
  await em.execute(
    `insert into api_token (role, name, token_hash, created_at) values (?, ?, ?, now())
     on conflict (token_hash) do update set revoked_at = null, role = excluded.role`,
    [role, name, hashToken(token)],
  );
}
