import type { ServerContext } from '../context';
import { timedQuery } from '../databaseTimeouts';
import type { RouteHandlers } from './mountRoutes';

/** /healthz answers within this, whatever the database does (a frozen one never answers at all). */
const HEALTH_TIMEOUT_MS = 2_000;

/** GET /healthz: 200 when the database answers `select 1` in time, 503 otherwise. No token needed. */
export function healthRoutes(ctx: ServerContext): Pick<RouteHandlers, 'health'> {
  return {
    health: async ({ res }) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        // pg's own query timeout frees the connection (the pool drops it); the race bounds acquiring one too.
        const check = ctx.pool.query(timedQuery('select 1', HEALTH_TIMEOUT_MS));
        const timeout = new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer from the database within ${HEALTH_TIMEOUT_MS} ms`)), HEALTH_TIMEOUT_MS);
        });
        check.catch(() => undefined); // settled after the race is lost: nobody else awaits it
        await Promise.race([check, timeout]);
        return { status: 'ok', database: 'ok' };
      } catch (error) {
        ctx.logger.warn({ err: error }, 'health check: database unreachable');
        res.status(503);
        return { status: 'degraded', database: 'unreachable' };
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
