import express, { type Express } from 'express';
import type { ServerContext } from './context';
import { NotFoundError, errorMiddleware } from './errors';
import { healthRoutes } from './routes/healthRoutes';
import { metaRoutes } from './routes/metaRoutes';
import { mountRoutes } from './routes/mountRoutes';
import { statisticsRoutes } from './routes/statisticsRoutes';
import { tokenRoutes } from './routes/tokenRoutes';
import { workerRoutes } from './routes/workerRoutes';
import { workRequestRoutes } from './routes/workRequestRoutes';

/** The express app: every route of protocol/routes.ts, handlers grouped by audience, one error envelope for everything. */
export function createApp(ctx: ServerContext): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(ctx.metrics.middleware());
  app.use(express.json({ limit: '1mb', type: ['application/json', 'application/*+json'] }));
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
