import { Router } from 'express';
import { createTokenRequestSchema } from '../../protocol/tokens';
import { ROLES, requireRole } from '../auth';
import type { ServerContext } from '../context';
import { parseInput } from '../errors';
import { createApiToken } from '../tokens';
import { asyncRoute } from './asyncRoute';

/** /api/v1/tokens: admins issue client, operator, admin and enrollment tokens. */
export function tokenRoutes(ctx: ServerContext): Router {
  const router = Router();
  router.post(
    '/',
    requireRole(ctx.authenticator, ROLES.admin),
    asyncRoute(async (req, res) => {
      const body = parseInput(createTokenRequestSchema, req.body, 'token request');
      const { id, token } = await createApiToken(ctx.orm.em.fork(), body.role, { name: body.name ?? null });
      ctx.logger.info({ id, role: body.role }, 'API token created');
      res.status(201).json({ id, role: body.role, name: body.name ?? null, token });
    }),
  );
  return router;
}
