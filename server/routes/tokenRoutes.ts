import type { ServerContext } from '../context';
import { NotFoundError } from '../errors';
import { createApiToken, listApiTokens, revokeApiToken } from '../tokens';
import type { RouteHandlers } from './mountRoutes';

/** /api/v1/tokens: admins issue, list and revoke client, operator, admin and enrollment tokens (and revoke worker tokens). */
export function tokenRoutes(ctx: ServerContext): Pick<RouteHandlers, 'createToken' | 'listTokens' | 'revokeToken'> {
  return {
    createToken: async ({ body }) => {
      const { id, token, expiresAt } = await createApiToken(ctx.orm.em.fork(), body.role, { name: body.name ?? null, expiresInS: body.expires_in });
      ctx.logger.info({ id, role: body.role, expiresAt }, 'API token created');
      return { id, role: body.role, name: body.name ?? null, expires_at: expiresAt?.toISOString() ?? null, token };
    },

    listTokens: async () => ({ tokens: await listApiTokens(ctx.orm.em.fork()) }),

    revokeToken: async ({ params }) => {
      const revoked = await revokeApiToken(ctx.orm.em.fork(), params.id);
      if (!revoked) throw new NotFoundError(`token ${params.id} does not exist`);
      // This process at once; the others on the NOTIFY sent with the revocation.
      ctx.authenticator.forget();
      ctx.logger.info({ id: revoked.id, role: revoked.role }, 'API token revoked');
      return revoked;
    },
  };
}
