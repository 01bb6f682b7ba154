import type { ServerContext } from '../context';
import type { RouteHandlers } from './mountRoutes';

/** GET /healthz: 200 when the database answers, 503 otherwise. No token needed. */
export function healthRoutes(ctx: ServerContext): Pick<RouteHandlers, 'health'> {
  return {
    health: async ({ res }) => {
      try {
        await ctx.orm.em.fork().execute('select 1');
        return { status: 'ok', database: 'ok' };
      } catch (error) {
        ctx.logger.warn({ err: error }, 'health check: database unreachable');
        res.status(503);
        return { status: 'degraded', database: 'unreachable' };
      }
    },
  };
}
