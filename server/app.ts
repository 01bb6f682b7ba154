import express, { type Express } from 'express';
import { API_ROUTES } from '../protocol/routes';
import type { ServerContext } from './context';
import { NotFoundError, errorMiddleware } from './errors';
import { healthRoutes } from './routes/healthRoutes';
import { metaRoutes } from './routes/metaRoutes';
import { mountRoutes } from './routes/mountRoutes';
import { statisticsRoutes } from './routes/statisticsRoutes';
import { tokenRoutes } from './routes/tokenRoutes';
import { workerRoutes } from './routes/workerRoutes';
import { workRequestRoutes } from './routes/workRequestRoutes';

/** Every route but the batch create takes bodies up to this size. */
const MAX_BODY_BYTES = 1024 * 1024;

/** The express app: every route of protocol/routes.ts, handlers grouped by audience, one error envelope for everything. */
export function createApp(ctx: ServerContext): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(ctx.metrics.middleware());
  const jsonTypes = ['application/json', 'application/*+json'];
  // The batch route reads its bigger body first; the general parser then sees it read and passes it on.
  app.post(API_ROUTES.createWorkRequests.path, express.json({ limit: ctx.config.maxBatchBody, type: jsonTypes }));
  app.use(express.json({ limit: MAX_BODY_BYTES, type: jsonTypes }));
  const handlers = {
    ...healthRoutes(ctx),
    ...metaRoutes(ctx),
    ...workerRoutes(ctx),
    ...workRequestRoutes(ctx),
    ...tokenRoutes(ctx),
    ...statisticsRoutes(ctx),
  };
  mountRoutes(app, ctx.authenticator, handlers, { validateResponses: ctx.config.validateResponses });
  app.use((req, _res, next) => next(new NotFoundError(`no route ${req.method} ${req.path}`)));
  app.use(errorMiddleware(ctx.logger));
  return app;
}
