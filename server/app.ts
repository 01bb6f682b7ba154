import express, { type Express } from 'express';
import { API_ROUTES, type RouteDefinition } from '../protocol/routes';
import type { ServerContext } from './context';
import { DashboardAssets } from './dashboard/dashboardAssets';
import { NotFoundError, errorMiddleware } from './errors';
import { TokenBuckets } from './rateLimit';
import { healthRoutes } from './routes/healthRoutes';
import { metaRoutes } from './routes/metaRoutes';
import { mountRoutes } from './routes/mountRoutes';
import { OperatorReadGate } from './routes/operatorReadGate';
import { scheduleRoutes } from './routes/scheduleRoutes';
import { jsonBodyParser } from './routes/requestBody';
import { statisticsRoutes } from './routes/statisticsRoutes';
import { tokenRoutes } from './routes/tokenRoutes';
import { workerRoutes } from './routes/workerRoutes';
import { workflowRoutes } from './routes/workflowRoutes';
import { workRequestRoutes } from './routes/workRequestRoutes';

/** Every route but those marked `largeBody` (which take up to maxBatchBody) takes bodies up to this size. */
const MAX_BODY_BYTES = 1024 * 1024;

/** `/api/v1/work-requests/:id/complete` → a regular expression matching its paths. */
function pathPattern(path: string): RegExp {
  const escaped = path.split('/').map((part) => (part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  return new RegExp(`^${escaped.join('/')}$`);
}

/** The express app: every route of protocol/routes.ts, handlers grouped by audience, one error envelope for everything. */
export function createApp(ctx: ServerContext): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  // When the request arrived, before body parsing and authentication wait for anything (the heartbeat's grace).
  app.use((_req, res, next) => {
    res.locals.receivedAtMs = performance.now();
    next();
  });
  app.use(ctx.metrics.middleware());
  const batchJson = jsonBodyParser(ctx.config.maxBatchBody);
  const json = jsonBodyParser(MAX_BODY_BYTES);
  const largeBodyRoutes = (Object.values(API_ROUTES) as RouteDefinition[])
    .filter((route) => route.largeBody)
    .map((route) => ({ method: route.method.toUpperCase(), pattern: pathPattern(route.path) }));
  const takesLargeBody = (method: string, path: string) => largeBodyRoutes.some((route) => route.method === method && route.pattern.test(path));
  // Middleware, not a route of its own: the router holds exactly the table's routes.
  app.use((req, res, next) => (takesLargeBody(req.method, req.path) ? batchJson : json)(req, res, next));
  const dashboard = new DashboardAssets();
  // The dashboard's static files: middleware, not routes (the router holds the API's routes only).
  app.use(dashboard.middleware());
  const handlers = {
    ...healthRoutes(ctx),
    ...metaRoutes(ctx, dashboard),
    ...workerRoutes(ctx),
    ...workRequestRoutes(ctx),
    ...tokenRoutes(ctx),
    ...statisticsRoutes(ctx),
    ...scheduleRoutes(ctx),
    ...workflowRoutes(ctx),
  };
  const { createRatePerS: ratePerS, createBurst: burst } = ctx.config;
  mountRoutes(app, ctx.authenticator, handlers, {
    validateResponses: ctx.config.validateResponses,
    createLimit: { buckets: new TokenBuckets(ratePerS, burst), ratePerS, burst },
    operatorReads: new OperatorReadGate(ctx.config.operatorReadConcurrency),
  });
  app.use((req, _res, next) => next(new NotFoundError(`no route ${req.method} ${req.path}`)));
  app.use(errorMiddleware(ctx.logger));
  return app;
}
