import type { ServerContext } from '../context';
import { createApiToken } from '../tokens';
import type { RouteHandlers } from './mountRoutes';

/** /api/v1/tokens: admins issue client, operator, admin and enrollment tokens. */
export function tokenRoutes(ctx: ServerContext): Pick<RouteHandlers, 'createToken'> {
  return {
    createToken: async ({ body }) => {
      const { id, token } = await createApiToken(ctx.orm.em.fork(), body.role, { name: body.name ?? null });
      ctx.logger.info({ id, role: body.role }, 'API token created');
      return { id, role: body.role, name: body.name ?? null, token };
    },
  };
}
