import { createHash } from 'node:crypto';
import { buildOpenApiDocument } from '../../protocol/openapi';
import type { ServerContext } from '../context';
import type { DashboardAssets } from '../dashboard/dashboardAssets';
import { ANSWERED, type RouteHandlers } from './mountRoutes';

/** Where to go from `/`: the same links as JSON (API clients, curl) and on the dashboard's login page. */
const LINKS = {
  service: 'worksched',
  api: '/api/v1',
  openapi: '/api/v1/openapi.json',
  health: '/healthz',
  metrics: '/metrics',
  cli: 'npx worksched --help',
  dashboard: '/',
} as const;

/** GET / (the dashboard, or links; no token), GET /metrics (operators; Prometheus text) and GET /api/v1/openapi.json (anyone). */
export function metaRoutes(ctx: ServerContext, dashboard: DashboardAssets): Pick<RouteHandlers, 'home' | 'metrics' | 'openApi'> {
  // Built once; a browser that has it (the dashboard reads it on every page load) revalidates for a 304.
  let openApi: { body: Buffer; etag: string } | null = null;
  return {
    home: async ({ req, res }) => {
      // Browsers ask for HTML first; curl (*/*) and API clients get JSON.
      if (req.accepts(['json', 'html']) !== 'html') return LINKS;
      const page = await dashboard.indexPage();
      res.set({ 'Content-Security-Policy': page.csp, 'Cache-Control': 'no-cache', 'Referrer-Policy': 'no-referrer' }).type('html').send(page.html);
      return ANSWERED;
    },
    openApi: ({ req, res }) => {
      if (!openApi) {
        const body = Buffer.from(JSON.stringify(buildOpenApiDocument()));
        openApi = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
      }
      res.set({ ETag: openApi.etag, 'Cache-Control': 'no-cache' });
      if (req.get('if-none-match') === openApi.etag) res.status(304).end();
      else res.type('application/json').send(openApi.body);
      return Promise.resolve(ANSWERED);
    },
    metrics: async ({ res }) => {
      res.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
      return ANSWERED;
    },
  };
}
