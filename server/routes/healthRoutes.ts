import { Router } from 'express';
import type { ServerContext } from '../context';
import { asyncRoute } from './asyncRoute';

/** GET /healthz: 200 when the database answers, 503 otherwise. No token needed. */
export function healthRoutes(ctx: ServerContext): Router {
  const router = Router();
  router.get(
    '/healthz',
    asyncRoute(async (_req, res) => {
      try {
        await ctx.orm.em.fork().execute('select 1');
        res.json({ status: 'ok', database: 'ok' });
      } catch (error) {
        ctx.logger.warn({ err: error }, 'health check: database unreachable');
        res.status(503).json({ status: 'degraded', database: 'unreachable' });
      }
    }),
  );
  return router;
}
