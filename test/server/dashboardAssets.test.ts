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

test('nothing else under /dashboard/ is served', async () => {
  for (const asset of ['/dashboard/app/nope.js', '/dashboard/app/../../package.json', '/dashboard/app/%2e%2e/session.ts', '/dashboard/index.html', '/dashboard/tsconfig.json', '/dashboard/vendor/uPlot.d.ts', '/dashboard/app/Main.js']) {
    const answer = await httpRequest(server.url, 'GET', asset);
    expect({ asset, status: answer.status }).toEqual({ asset, status: 404 });
  }
});
