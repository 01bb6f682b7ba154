import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { RequestHandler } from 'express';

/** Where the dashboard's files are served from; every other path is the API's. */
export const DASHBOARD_PREFIX = '/dashboard/';

interface Asset {
  type: string;
  body: Buffer;
}

/** The package's root: the nearest folder above this file with a package.json (the same from the sources and dist/). */
function packageRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${__dirname}`);
    dir = parent;
  }
  return dir;
}

/** Libraries the dashboard loads, by the name it asks for: their own dist files from node_modules (no CDN). */
const VENDOR_FILES: Record<string, { module: string; type: string }> = {
  'vendor/uPlot.esm.js': { module: 'uplot/dist/uPlot.esm.js', type: 'text/javascript' },
  'vendor/uPlot.min.css': { module: 'uplot/dist/uPlot.min.css', type: 'text/css' },
};

/** The dashboard's modules ('main', 'pages/overview', …): its .ts files (declaration files aside). */
function dashboardModules(dir: string, prefix = ''): string[] {
  const modules: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) modules.push(...dashboardModules(path.join(dir, entry.name), `${prefix}${entry.name}/`));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) modules.push(prefix + entry.name.slice(0, -3));
  }
  return modules.filter((module) => SCRIPT_NAME.test(`app/${module}.js`)).sort();
}

/** dashboard/<name>.ts as the browser module /dashboard/app/<name>.js: lower-camel path segments only. */
const SCRIPT_NAME = /^app\/((?:[a-z][A-Za-z0-9]*\/)*[a-z][A-Za-z0-9]*)\.js$/;

/**
 * The dashboard's files. Its scripts run the way the server runs: compiled by the build (dist/dashboard, made by
 * `npm run build` next to dist/server) when the server itself runs from dist/, else the TypeScript sources
 * stripped of their types by swc (as bin/worksched.js runs the server's own sources), so an edited checkout
 * never serves a stale script. Everything is read once and kept in memory.
 */
export class DashboardAssets {
  private readonly root = packageRoot();
  private readonly compiled = __filename.endsWith('.js');
  private readonly cache = new Map<string, Promise<Asset | null>>();
  private page: { html: string; csp: string } | null = null;

  /** The dashboard's page (GET / for a browser) and the Content-Security-Policy that lets exactly its scripts run. */
  indexPage(): { html: string; csp: string } {
    if (!this.page) {
      // Every module is preloaded at once: the browser fetches them in parallel instead of import by import.
      const preloads = [...dashboardModules(path.join(this.root, 'dashboard')).map((module) => `/dashboard/app/${module}.js`), '/dashboard/vendor/uPlot.esm.js']
        .map((href) => `<link rel="modulepreload" href="${href}">`)
        .join('\n');
      const html = fs.readFileSync(path.join(this.root, 'dashboard', 'index.html'), 'utf8').replace('<!-- modulepreload -->', preloads);
      // The import map is the one inline script: allowed by its hash, nothing else inline.
      const inline = [...html.matchAll(/<script type="importmap">([\s\S]*?)<\/script>/g)].map(
        (match) => `'sha256-${createHash('sha256').update(match[1]).digest('base64')}'`,
      );
      const csp = [
        `default-src 'self'`,
        `script-src 'self' ${inline.join(' ')}`,
        `style-src 'self' 'unsafe-inline'`,
        `img-src 'self' data:`,
        `connect-src 'self'`,
        `base-uri 'none'`,
        `form-action 'none'`,
        `frame-ancestors 'none'`,
      ].join('; ');
      this.page = { html, csp };
    }
    return this.page;
  }

  /** The file at `name` (the path after /dashboard/), or null when there is none. */
  asset(name: string): Promise<Asset | null> {
    let loading = this.cache.get(name);
    if (!loading) {
      loading = this.load(name);
      this.cache.set(name, loading);
      // A failed read is tried again next time.
      loading.catch(() => this.cache.delete(name));
    }
    return loading;
  }

  /** Middleware for GET/HEAD /dashboard/…: a file, or on to the 404 of unknown routes. */
  middleware(): RequestHandler {
    return (req, res, next) => {
      if ((req.method !== 'GET' && req.method !== 'HEAD') || !req.path.startsWith(DASHBOARD_PREFIX)) return next();
      this.asset(req.path.slice(DASHBOARD_PREFIX.length)).then(
        (asset) => {
          if (!asset) return next();
          // Revalidated on each load (ETag, 304): a new version of the server is never mixed with old scripts.
          res.set('Cache-Control', 'no-cache').type(asset.type).send(asset.body);
        },
        next,
      );
    };
  }

  private async load(name: string): Promise<Asset | null> {
    const vendor = Object.hasOwn(VENDOR_FILES, name) ? VENDOR_FILES[name] : undefined;
    if (vendor) return { type: vendor.type, body: fs.readFileSync(require.resolve(vendor.module)) };
    if (name === 'style.css') return { type: 'text/css', body: fs.readFileSync(path.join(this.root, 'dashboard', 'style.css')) };
    const script = SCRIPT_NAME.exec(name);
    if (!script) return null;
    return this.compiled ? this.loadCompiled(script[1]) : this.loadSource(script[1]);
  }

  private loadCompiled(module: string): Asset | null {
    const file = path.join(this.root, 'dist', 'dashboard', `${module}.js`);
    return fs.existsSync(file) ? { type: 'text/javascript', body: fs.readFileSync(file) } : null;
  }

  private async loadSource(module: string): Promise<Asset | null> {
    const file = path.join(this.root, 'dashboard', `${module}.ts`);
    if (!fs.existsSync(file)) return null;
    // Loaded only here: a server running from dist/ never needs swc.
    const swc = await import('@swc/core');
    const output = await swc.transformFile(file, {
      swcrc: false,
      jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
      module: { type: 'es6' },
    });
    return { type: 'text/javascript', body: Buffer.from(output.code) };
  }
}
