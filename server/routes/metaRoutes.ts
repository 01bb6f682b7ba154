import { buildOpenApiDocument } from '../../protocol/openapi';
import type { ServerContext } from '../context';
import { ANSWERED, type RouteHandlers } from './mountRoutes';

/** Where to go from `/` until the dashboard exists: the same links as JSON and as a page. */
const LINKS = {
  service: 'worksched',
  api: '/api/v1',
  openapi: '/api/v1/openapi.json',
  health: '/healthz',
  metrics: '/metrics',
  cli: 'npx worksched --help',
} as const;

const HOME_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>worksched</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 2em auto">
<h1>worksched</h1>
<p>A work-request scheduler. This server has no web dashboard yet; use the HTTP API or the command line.</p>
<ul>
<li><a href="${LINKS.openapi}">${LINKS.openapi}</a>: the HTTP API v1, described in OpenAPI 3.1 (bearer tokens)</li>
<li><a href="${LINKS.health}">${LINKS.health}</a>: health of the server and its database</li>
<li><a href="${LINKS.metrics}">${LINKS.metrics}</a>: Prometheus metrics (operator token)</li>
<li>the CLI: <code>npx worksched submit --task-name hello --wait -- /bin/echo hello</code>, <code>npx worksched show</code>, <code>${LINKS.cli}</code></li>
</ul>
</body></html>
`;

/** GET / (links, no token), GET /metrics (operators; Prometheus text) and GET /api/v1/openapi.json (anyone). */
export function metaRoutes(ctx: ServerContext): Pick<RouteHandlers, 'home' | 'metrics' | 'openApi'> {
  let openApi: string | null = null;
  return {
    home: ({ req, res }) => {
      // Browsers ask for HTML first; curl (*/*) and API clients get JSON.
      if (req.accepts(['json', 'html']) !== 'html') return Promise.resolve(LINKS);
      res.type('html').send(HOME_PAGE);
      return Promise.resolve(ANSWERED);
    },
    openApi: ({ res }) => {
      openApi ??= JSON.stringify(buildOpenApiDocument());
      res.type('application/json').send(openApi);
      return Promise.resolve(ANSWERED);
    },
    metrics: async ({ res }) => {
      res.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
      return ANSWERED;
    },
  };
}
