import express, { type Express } from 'express';
import type { ServerContext } from './context';
import { NotFoundError, errorMiddleware } from './errors';
import { healthRoutes } from './routes/healthRoutes';
import { statisticsRoutes } from './routes/statisticsRoutes';
import { metaRoutes } from './routes/metaRoutes';
import { tokenRoutes } from './routes/tokenRoutes';
import { workerRoutes } from './routes/workerRoutes';
import { workRequestRoutes } from './routes/workRequestRoutes';

/** The express app: routes grouped by audience, one error envelope for everything. */
export function createApp(ctx: ServerContext): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(ctx.metrics.middleware());
  app.use(express.json({ limit: '1mb', type: ['application/json', 'application/*+json'] }));
  app.use(healthRoutes(ctx));
  app.use(metaRoutes(ctx));
  app.use('/api/v1/workers', workerRoutes(ctx));
  app.use('/api/v1/work-requests', workRequestRoutes(ctx));
  app.use('/api/v1/tokens', tokenRoutes(ctx));
  app.use('/api/v1/statistics', statisticsRoutes(ctx));
  app.use((req, _res, next) => next(new NotFoundError(`no route ${req.method} ${req.path}`)));
  app.use(errorMiddleware(ctx.logger));
  return app;
}
