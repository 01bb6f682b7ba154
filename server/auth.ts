import type { RequestHandler, Request } from 'express';
import type { MikroORM } from '@mikro-orm/postgresql';
import { ROLE_GRANTS, type RouteRole } from '../protocol/roles';
import type { TokenRole } from '../protocol/tokens';
import { ForbiddenError, UnauthorizedError } from './errors';
import { hashToken } from './tokens';

export interface Principal {
  tokenId: number;
  role: TokenRole;
  workerId: number | null;
}

const CACHE_TTL_MS = 5_000;
const CACHE_MAX = 10_000;

/**
 * Resolves the bearer token to a principal. Lookups are cached for a few seconds so that a busy worker's
 * claim/complete loop does not pay a query per request; a revoked token stops working within that time.
 */
export class TokenAuthenticator {
  private readonly cache = new Map<string, { principal: Principal | null; expires: number }>();

  constructor(private readonly orm: MikroORM) {}

  async authenticate(header: string | undefined): Promise<Principal> {
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) throw new UnauthorizedError();
    const hash = hashToken(match[1]);
    const now = Date.now();
    const cached = this.cache.get(hash);
    let principal: Principal | null;
    if (cached && cached.expires > now) {
      principal = cached.principal;
    } else {
      principal = await this.lookup(hash);
      if (this.cache.size >= CACHE_MAX) this.cache.clear();
      this.cache.set(hash, { principal, expires: now + CACHE_TTL_MS });
    }
    if (!principal) throw new UnauthorizedError('unknown or revoked token');
    return principal;
  }

  private async lookup(hash: string): Promise<Principal | null> {
    const rows = await this.orm.em.fork().execute<{ id: string; role: TokenRole; worker_id: string | null }[]>(
      `select t.id, t.role, t.worker_id from api_token t
       left join worker w on w.id = t.worker_id
       where t.token_hash = ? and t.revoked_at is null and (t.worker_id is null or w.enabled)`,
      [hash],
    );
    const row = rows[0];
    if (!row) return null;
    return { tokenId: Number(row.id), role: row.role, workerId: row.worker_id === null ? null : Number(row.worker_id) };
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
