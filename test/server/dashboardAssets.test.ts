/**
 * The dashboard's files over real HTTP: the page at / for a browser (with a Content-Security-Policy that allows
 * only its own scripts and the import map's hash), its browser modules and uPlot's files, and nothing else under
 * /dashboard/ (no path outside the fixed set, no way out of the folder).
 */
import { createHash } from 'node:crypto';
import { httpRequest, startTestServer, type TestServer } from '../helpers/server';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

test('a browser gets the dashboard page; its CSP allows its own scripts and exactly the inline import map', async () => {
  const page = await httpRequest(server.url, 'GET', '/', { headers: { accept: 'text/html,*/*;q=0.8' } });
  expect(page.status).toBe(200);
  expect(page.headers.get('content-type')).toMatch(/^text\/html/);
  expect(page.text).toContain('id="login-form"');
  const csp = page.headers.get('content-security-policy') ?? '';
  const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(page.text)![1];
  expect(csp).toContain(`script-src 'self' 'sha256-${createHash('sha256').update(importMap).digest('base64')}'`);
  expect(csp).toContain(`connect-src 'self'`);
  expect(csp).toContain(`form-action 'none'`);
  const links = await httpRequest<{ dashboard: string; openapi: string }>(server.url, 'GET', '/');
  expect(links.body).toMatchObject({ dashboard: '/', openapi: '/api/v1/openapi.json' });
});

test('every module the page imports is served as JavaScript, and so are uPlot and its CSS', async () => {
  const seen = new Set<string>();
  const queue = ['/dashboard/app/main.js'];
  while (queue.length > 0) {
    const asset = queue.shift()!;
    if (seen.has(asset)) continue;
    seen.add(asset);
    const answer = await httpRequest(server.url, 'GET', asset);
    expect({ asset, status: answer.status, type: answer.headers.get('content-type') }).toEqual({ asset, status: 200, type: expect.stringMatching(/^text\/javascript/) });
    expect(answer.text).not.toMatch(/:\s*(string|number|HTMLElement)\b[,)=]/); // types stripped
    for (const [, relative] of answer.text.matchAll(/from '(\.[^']+)'/g)) queue.push(new URL(relative, `http://x${asset}`).pathname);
  }
  expect(seen.size).toBeGreaterThan(10);
  const uplot = await httpRequest(server.url, 'GET', '/dashboard/vendor/uPlot.esm.js');
  expect(uplot.status).toBe(200);
  expect(uplot.text).toContain('export { uPlot as default }');
  expect((await httpRequest(server.url, 'GET', '/dashboard/vendor/uPlot.min.css')).headers.get('content-type')).toMatch(/^text\/css/);
  expect((await httpRequest(server.url, 'GET', '/dashboard/style.css')).status).toBe(200);
});

test('the page asks for every file by the hash of its content, kept for good; by its bare name a file is revalidated', async () => {
  const page = await httpRequest(server.url, 'GET', '/', { headers: { accept: 'text/html' } });
  const { imports } = JSON.parse(/<script type="importmap">([\s\S]*?)<\/script>/.exec(page.text)![1]) as { imports: Record<string, string> };
  // Each module's own imports (./api.js from main.js) resolve to the hashed URL, and so do the libraries' names.
  expect(imports['/dashboard/app/api.js']).toMatch(/^\/dashboard\/app\/api\.js\?v=[0-9a-f]{16}$/);
  expect(imports.uplot).toMatch(/^\/dashboard\/vendor\/uPlot\.esm\.js\?v=/);
  expect(imports['@dagrejs/dagre']).toMatch(/^\/dashboard\/vendor\/dagre\.esm\.js\?v=/);
  const loaded = [...page.text.matchAll(/(?:href|src)="(\/dashboard\/[^"]+)"/g)].map((match) => match[1]);
  expect(loaded).toContain(imports['/dashboard/app/main.js']);
  expect(loaded.every((url) => /\?v=[0-9a-f]{16}$/.test(url))).toBe(true);
  for (const url of new Set([...loaded, ...Object.values(imports)])) {
    const answer = await httpRequest(server.url, 'GET', url);
    expect({ url, status: answer.status, cache: answer.headers.get('cache-control') }).toEqual({ url, status: 200, cache: 'public, max-age=31536000, immutable' });
    const version = createHash('sha256').update(answer.text).digest('hex').slice(0, 16);
    expect(url.endsWith(`?v=${version}`)).toBe(true);
  }
  const dagre = await httpRequest(server.url, 'GET', '/dashboard/vendor/dagre.esm.js');
  expect(dagre.headers.get('cache-control')).toBe('no-cache');
  expect(dagre.text).toContain('layout');
  expect((await httpRequest(server.url, 'GET', '/dashboard/app/main.js?v=0000000000000000')).headers.get('cache-control')).toBe('no-cache');
});

test('nothing else under /dashboard/ is served', async () => {
  for (const asset of ['/dashboard/app/nope.js', '/dashboard/app/../../package.json', '/dashboard/app/%2e%2e/session.ts', '/dashboard/index.html', '/dashboard/tsconfig.json', '/dashboard/vendor/uPlot.d.ts', '/dashboard/app/Main.js']) {
    const answer = await httpRequest(server.url, 'GET', asset);
    expect({ asset, status: answer.status }).toEqual({ asset, status: 404 });
  }
});
