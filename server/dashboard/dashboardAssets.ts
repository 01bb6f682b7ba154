import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { RequestHandler } from 'express';

/** Where the dashboard's files are served from; every other path is the API's. */
export const DASHBOARD_PREFIX = '/dashboard/';

interface Asset {
  type: string;
  body: Buffer;
  /** A hash of the body: the `?v=` that the page asks for, under which the file may be cached for good. */
  version: string;
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
const VENDOR_FILES: Record<string, { package: string; file: string; type: string }> = {
  'vendor/uPlot.esm.js': { package: 'uplot', file: 'dist/uPlot.esm.js', type: 'text/javascript' },
  'vendor/uPlot.min.css': { package: 'uplot', file: 'dist/uPlot.min.css', type: 'text/css' },
  'vendor/dagre.esm.js': { package: '@dagrejs/dagre', file: 'dist/dagre.esm.js', type: 'text/javascript' },
};

/** The bare specifiers the dashboard's modules import, and the vendor file each one is (the page's import map). */
const BARE_IMPORTS: Record<string, string> = { uplot: 'vendor/uPlot.esm.js', '@dagrejs/dagre': 'vendor/dagre.esm.js' };

/** A package's file, found through its package.json (packages with an `exports` map refuse deep require.resolve). */
function packageFile(name: string, file: string): string {
  return path.join(path.dirname(require.resolve(`${name}/package.json`)), file);
}

const CACHED_FOR_GOOD = 'public, max-age=31536000, immutable';

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
  private page: Promise<{ html: string; csp: string }> | null = null;

  /**
   * The dashboard's page (GET / for a browser) and the Content-Security-Policy that lets exactly its scripts run.
   * Every file it loads is asked for as `…?v=<hash of its content>` (the import map does the same for every
   * module's imports), which the browser may keep for good: a reload fetches only this page and the API's
   * answers, and a new version of the server is never mixed with old scripts (its files have other hashes).
   */
  indexPage(): Promise<{ html: string; csp: string }> {
    this.page ??= this.buildIndexPage();
    this.page.catch(() => (this.page = null));
    return this.page;
  }

  private async buildIndexPage(): Promise<{ html: string; csp: string }> {
    const names = [...dashboardModules(path.join(this.root, 'dashboard')).map((module) => `app/${module}.js`), ...Object.keys(VENDOR_FILES), 'style.css'];
    const versioned = new Map<string, string>();
    for (const name of names) {
      const asset = await this.asset(name);
      if (asset) versioned.set(name, `${DASHBOARD_PREFIX}${name}?v=${asset.version}`);
    }
    const urlOf = (name: string) => versioned.get(name) ?? `${DASHBOARD_PREFIX}${name}`;
    const imports: Record<string, string> = {};
    for (const [specifier, name] of Object.entries(BARE_IMPORTS)) imports[specifier] = urlOf(name);
    for (const name of names) if (name.endsWith('.js')) imports[`${DASHBOARD_PREFIX}${name}`] = urlOf(name);
    // Every module is preloaded at once: the browser fetches them in parallel instead of import by import.
    const preloads = names
      .filter((name) => name.endsWith('.js'))
      .map((name) => `<link rel="modulepreload" href="${urlOf(name)}">`)
      .join('\n');
    const html = fs
      .readFileSync(path.join(this.root, 'dashboard', 'index.html'), 'utf8')
      .replace('<!-- importmap -->', `<script type="importmap">${JSON.stringify({ imports })}</script>`)
      .replace('<!-- modulepreload -->', preloads)
      .replace(/(href|src)="\/dashboard\/([^"?]+)"/g, (_match, attribute: string, name: string) => `${attribute}="${urlOf(name)}"`);
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
    return { html, csp };
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
          // Asked for by its hash (as the page does): kept for good; by its bare name: revalidated (ETag, 304).
          res.set('Cache-Control', req.query.v === asset.version ? CACHED_FOR_GOOD : 'no-cache').type(asset.type).send(asset.body);
        },
        next,
      );
    };
  }

  private async load(name: string): Promise<Asset | null> {
    const loaded = await this.read(name);
    return loaded && { ...loaded, version: createHash('sha256').update(loaded.body).digest('hex').slice(0, 16) };
  }

  private async read(name: string): Promise<Omit<Asset, 'version'> | null> {
    const vendor = Object.hasOwn(VENDOR_FILES, name) ? VENDOR_FILES[name] : undefined;
    if (vendor) return { type: vendor.type, body: fs.readFileSync(packageFile(vendor.package, vendor.file)) };
    if (name === 'style.css') return { type: 'text/css', body: fs.readFileSync(path.join(this.root, 'dashboard', 'style.css')) };
    const script = SCRIPT_NAME.exec(name);
    if (!script) return null;
    return this.compiled ? this.loadCompiled(script[1]) : this.loadSource(script[1]);
  }

  private loadCompiled(module: string): Omit<Asset, 'version'> | null {
    const file = path.join(this.root, 'dist', 'dashboard', `${module}.js`);
    return fs.existsSync(file) ? { type: 'text/javascript', body: fs.readFileSync(file) } : null;
  }

  private async loadSource(module: string): Promise<Omit<Asset, 'version'> | null> {
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
