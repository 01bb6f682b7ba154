import { Router } from 'express';
import { buildOpenApiDocument } from '../../protocol/openapi';
import { ROLES, requireRole } from '../auth';
import type { ServerContext } from '../context';
import { asyncRoute } from './asyncRoute';

/** GET /metrics (operators; Prometheus text) and GET /api/v1/openapi.json (anyone). */
export function metaRoutes(ctx: ServerContext): Router {
  const router = Router();
  let openApi: string | null = null;
  router.get('/api/v1/openapi.json', (_req, res) => {
    openApi ??= JSON.stringify(buildOpenApiDocument());
    res.type('application/json').send(openApi);
  });
  router.get(
    '/metrics',
    requireRole(ctx.authenticator, ROLES.operator),
    asyncRoute(async (_req, res) => {
      res.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
    }),
  );
  return router;
}
