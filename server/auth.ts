import type { RequestHandler, Request } from 'express';
import type { MikroORM } from '@mikro-orm/postgresql';
import { ROLE_GRANTS, type RouteRole } from '../protocol/roles';
import type { TokenRole } from '../protocol/tokens';
import { ForbiddenError, UnauthorizedError } from './errors';
import { CHANNELS } from './notifications';
import { hashToken } from './tokens';

export interface Principal {
  tokenId: number;
  role: TokenRole;
  workerId: number | null;
}

const CACHE_TTL_MS = 5_000;
const CACHE_MAX = 10_000;
/** last_used_at is written at most this often per token (and process): a busy worker does not write a row per call. */
const LAST_USED_EVERY_MS = 60_000;

interface CachedLookup {
  principal: Principal | null;
  /** When the entry must be looked up again: the TTL, or the token's own expiry if sooner. */
  validUntil: number;
}

/** What the authenticator needs of DatabaseNotifications: to hear of revocations from any server process. */
export interface CredentialsEvents {
  readonly connected: boolean;
  listen(channel: typeof CHANNELS.credentials, listener: () => void): void;
}

/**
 * Resolves the bearer token to a principal. Lookups are cached for a few seconds so that a busy worker's
 * claim/complete loop does not pay a query per request. A revocation NOTIFYs every server process sharing the
 * database, and each clears its cache on it (and on a reconnect of its LISTEN connection); while that
 * connection is down nothing is cached, so no cached entry outlives a revocation.
 */
export class TokenAuthenticator {
  private readonly cache = new Map<string, CachedLookup>();
  /** Token id → when this process last wrote its last_used_at. */
  private readonly lastUsedWritten = new Map<number, number>();

  constructor(
    private readonly orm: MikroORM,
    private readonly events?: CredentialsEvents,
  ) {
    events?.listen(CHANNELS.credentials, () => this.forget());
  }

  /** Drops every cached lookup (a token was revoked here or on another replica). */
  forget(): void {
    this.cache.clear();
  }

  async authenticate(header: string | undefined): Promise<Principal> {
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) throw new UnauthorizedError();
    const hash = hashToken(match[1]);
    const now = Date.now();
    const useCache = this.events?.connected ?? true;
    const cached = useCache ? this.cache.get(hash) : undefined;
    let principal: Principal | null;
    if (cached && cached.validUntil > now) {
      principal = cached.principal;
    } else {
      const found = await this.lookup(hash);
      principal = found?.principal ?? null;
      if (useCache) {
        if (this.cache.size >= CACHE_MAX) this.cache.clear();
        this.cache.set(hash, { principal, validUntil: Math.min(now + CACHE_TTL_MS, found?.expiresAt ?? Number.POSITIVE_INFINITY) });
      }
    }
    if (!principal) throw new UnauthorizedError('unknown, expired or revoked token');
    this.noteUse(principal.tokenId, now);
    return principal;
  }

  private async lookup(hash: string): Promise<{ principal: Principal; expiresAt: number | undefined } | null> {
    const rows = await this.orm.em.fork().execute<{ id: string; role: TokenRole; worker_id: string | null; expires_at: Date | null }[]>(
      `select id, role, worker_id, expires_at from api_token
       where token_hash = ? and revoked_at is null and (expires_at is null or expires_at > now())`,
      [hash],
    );
    const row = rows[0];
    if (!row) return null;
    return {
      principal: { tokenId: Number(row.id), role: row.role, workerId: row.worker_id === null ? null : Number(row.worker_id) },
      expiresAt: row.expires_at === null ? undefined : new Date(row.expires_at).getTime(),
    };
  }

  /** Records the use in the background, at most once a minute per token; the WHERE keeps replicas from piling up writes. */
  private noteUse(tokenId: number, now: number): void {
    const written = this.lastUsedWritten.get(tokenId);
    if (written !== undefined && now - written < LAST_USED_EVERY_MS) return;
    if (this.lastUsedWritten.size >= CACHE_MAX) this.lastUsedWritten.clear();
    this.lastUsedWritten.set(tokenId, now);
    this.orm.em
      .fork()
      .execute(`update api_token set last_used_at = now() where id = ? and (last_used_at is null or last_used_at < now() - interval '1 minute')`, [tokenId])
      .catch(() => this.lastUsedWritten.delete(tokenId)); // tried again at the next use
  }
}

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
  }
}

/** Authenticates the request and checks that its token's role is let in by `role` (protocol/roles.ts). */
export function requireRole(authenticator: TokenAuthenticator, role: Exclude<RouteRole, 'none'>): RequestHandler {
  const roles: readonly TokenRole[] = ROLE_GRANTS[role];
  return async (req, _res, next) => {
    try {
      const principal = await authenticator.authenticate(req.headers.authorization);
      if (!roles.includes(principal.role)) {
        throw new ForbiddenError(`a ${principal.role} token cannot do this; it needs one of: ${roles.join(', ')}`);
      }
      req.principal = principal;
      next();
    } catch (error) {
      next(error);
    }
  };
}

export function principalOf(req: Request): Principal {
  if (!req.principal) throw new UnauthorizedError();
  return req.principal;
}

/** The worker id of a request authenticated with a worker token. */
export function workerIdOf(req: Request): number {
  const principal = principalOf(req);
  if (principal.workerId === null) throw new ForbiddenError('this route needs a worker token');
  return principal.workerId;
}
