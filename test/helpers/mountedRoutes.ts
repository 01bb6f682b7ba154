import type express from 'express';

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
  name: string;
}

/**
 * "get /api/v1/work-requests/:id" for every route on the app's router. Throws on a sub-router: it hides its
 * mount path, and every route must be mounted through mountRoutes, at its full path.
 */
export function mountedRoutes(app: express.Express): string[] {
  const stack = (app as unknown as { router: { stack: Layer[] } }).router.stack;
  const found: string[] = [];
  for (const layer of stack) {
    if (Array.isArray(layer.handle.stack)) throw new Error(`a nested router (${layer.name}) is mounted: mount every route through mountRoutes`);
    if (!layer.route) continue;
    for (const [method, on] of Object.entries(layer.route.methods)) if (on) found.push(`${method} ${layer.route.path}`);
  }
  return found;
}
