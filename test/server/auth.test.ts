/**
 * Who may call what: 401 without a (known) token, 403 for the wrong role, tokens issued by admins work at once,
 * and no token is stored in plain text.
 */
import type { z } from 'zod';
import type { ErrorResponse } from '../../protocol/errors';
import { ROLE_GRANTS, type RouteRole } from '../../protocol/roles';
import { API_ROUTES, type RouteDefinition, type RouteName } from '../../protocol/routes';
import { TOKEN_ROLES, type createTokenResponseSchema, type TokenRole } from '../../protocol/tokens';
import type { RegisterWorkerResponse, Worker } from '../../protocol/workerApi';
import type { WorkRequest } from '../../protocol/workRequest';
import { taskSpec, expectStatus, startTestServer, type SimWorker, type TestServer } from '../helpers/server';

type CreatedToken = z.infer<typeof createTokenResponseSchema>;

let server: TestServer;
let worker: SimWorker;
let operatorToken: string;
let runningId: number;

beforeAll(async () => {
  server = await startTestServer();
  worker = await server.registerWorker();
  operatorToken = expectStatus(
    await server.request<CreatedToken>('POST', '/api/v1/tokens', { token: server.adminToken, body: { role: 'operator', name: 'ops' } }),
    201,
    'create operator token',
  ).body.token;
  runningId = (await server.createWorkRequest()).id;
  expect((await worker.claimOk()).map((item) => item.id)).toEqual([runningId]);
});

afterAll(async () => {
  await server?.close();
});

const register = (name: string) => ({
  name,
  resources: { cpu_count: 1, total_memory: 1024, available_memory: 1024, available_disk_space: 1024 },
});

/**
 * Every protected route of the protocol's table once. Ids name no request (999999): the role check comes
 * before anything else, and a let-through call then writes nothing (404, or 400 for a missing body).
 */
function routes(): Array<{ name: RouteName; method: string; path: string; role: Exclude<RouteRole, 'none'>; body?: () => unknown }> {
  const bodies: Partial<Record<RouteName, () => unknown>> = { claim: () => ({ max: 1, wait_s: 0 }) };
  return (Object.entries(API_ROUTES) as Array<[RouteName, RouteDefinition]>).flatMap(([name, route]) =>
    route.role === 'none'
      ? []
      : [{ name, method: route.method.toUpperCase(), path: route.path.replace(':id', '999999').replace('*task_name', 'auth.task'), role: route.role, body: bodies[name] }],
  );
}

test('the protocol has protected routes for every role, and the hierarchy admin ⊇ operator ⊇ client', () => {
  expect(new Set(routes().map((route) => route.role))).toEqual(new Set(['client', 'operator', 'admin', 'worker', 'enrollment']));
  expect(ROLE_GRANTS).toEqual({
    client: ['client', 'operator', 'admin'],
    operator: ['operator', 'admin'],
    admin: ['admin'],
    worker: ['worker'],
    enrollment: ['enrollment', 'admin'],
  });
});

test.each([
  ['no Authorization header', undefined],
  ['an unknown token', { authorization: 'Bearer wst_this-token-was-never-issued-by-anyone-000000' }],
  ['an empty bearer', { authorization: 'Bearer ' }],
  ['another scheme', { authorization: 'Basic dXNlcjpwYXNz' }],
])('%s → 401 on every protected route, nothing written', async (_label, headers) => {
  const before = await server.countAll();
  for (const route of routes()) {
    const answer = await server.request<Partial<ErrorResponse>>(route.method, route.path, { headers: headers ?? {}, body: route.body?.() });
    expect({ route: route.name, status: answer.status, code: answer.body?.error?.code }).toEqual({ route: route.name, status: 401, code: 'unauthorized' });
  }
  expect(await server.countAll()).toEqual(before);
  expect((await server.getWorkRequest(runningId)).status).toBe('running');
});

test.each(TOKEN_ROLES)('%s token: 403 on the routes the table gives other roles, and is let through on its own', async (role) => {
  const tokens: Record<TokenRole, string> = {
    client: server.clientToken,
    operator: operatorToken,
    enrollment: server.enrollmentToken,
    worker: worker.token,
    admin: server.adminToken,
  };
  const token = tokens[role];
  const allowed = (route: { role: Exclude<RouteRole, 'none'> }) => (ROLE_GRANTS[route.role] as readonly TokenRole[]).includes(role);
  const before = await server.countAll();
  for (const route of routes()) {
    if (allowed(route)) continue;
    const answer = await server.request<Partial<ErrorResponse>>(route.method, route.path, { token, body: route.body?.() });
    expect({ route: route.name, status: answer.status, code: answer.body?.error?.code }).toEqual({ route: route.name, status: 403, code: 'forbidden' });
  }
  expect(await server.countAll()).toEqual(before);
  for (const route of routes()) {
    if (!allowed(route)) continue;
    const answer = await server.request(route.method, route.path, { token, body: route.body?.() });
    expect({ route: route.name, ok: answer.status !== 401 && answer.status !== 403 }).toEqual({ route: route.name, ok: true });
  }
  expect(await server.countAll()).toEqual(before);
});

test('a worker token cannot create work; a client token can neither claim nor register', async () => {
  const before = await server.countAll();
  const byWorker = await worker.call('POST', '/api/v1/work-requests', taskSpec());
  expect(byWorker.status).toBe(403);
  const claimByClient = await server.request('POST', '/api/v1/workers/claim', { token: server.clientToken, body: {} });
  expect(claimByClient.status).toBe(403);
  const registerByClient = await server.request('POST', '/api/v1/workers/register', { token: server.clientToken, body: register('client-made') });
  expect(registerByClient.status).toBe(403);
  expect(await server.countAll()).toEqual(before);
});

test('the enrollment token registers workers and does nothing else', async () => {
  const registered = await server.request<RegisterWorkerResponse>('POST', '/api/v1/workers/register', { token: server.enrollmentToken, body: register('enrolled-1') });
  expect(registered.status).toBe(201);
  expect(registered.body.worker.name).toBe('enrolled-1');
  expect(typeof registered.body.token).toBe('string');
  // The new worker token works for worker routes at once.
  const heartbeat = await server.request('POST', '/api/v1/workers/heartbeat', { token: registered.body.token, body: { running: [] } });
  expect(heartbeat.status).toBe(200);
  // The same name again is a conflict, not a second worker.
  const again = await server.request('POST', '/api/v1/workers/register', { token: server.enrollmentToken, body: register('enrolled-1') });
  expect(again.status).toBe(409);
  for (const [method, path] of [
    ['GET', '/api/v1/work-requests'],
    ['GET', '/api/v1/workers'],
    ['POST', '/api/v1/workers/claim'],
  ] as const) {
    expect((await server.request(method, path, { token: server.enrollmentToken, body: method === 'POST' ? {} : undefined })).status).toBe(403);
  }
});

test('an operator lists workers; a client cannot', async () => {
  const byOperator = await server.request<{ workers: Worker[] }>('GET', '/api/v1/workers', { token: operatorToken });
  expect(byOperator.status).toBe(200);
  expect(byOperator.body.workers.map((item) => item.id)).toContain(worker.id);
  expect((await server.request('GET', '/api/v1/workers', { token: server.clientToken })).status).toBe(403);
  // Operators cannot issue tokens.
  expect((await server.request('POST', '/api/v1/tokens', { token: operatorToken, body: { role: 'client' } })).status).toBe(403);
});

test('an admin issues tokens; a new client token works at once; worker tokens cannot be issued this way', async () => {
  const created = await server.request<CreatedToken>('POST', '/api/v1/tokens', { token: server.adminToken, body: { role: 'client', name: 'ci' } });
  expect(created.status).toBe(201);
  expect(created.body).toMatchObject({ role: 'client', name: 'ci' });
  expect(typeof created.body.id).toBe('number');
  const token: string = created.body.token;
  expect(token.length).toBeGreaterThanOrEqual(32);

  const made = await server.request<WorkRequest>('POST', '/api/v1/work-requests', { token, body: taskSpec() });
  expect(made.status).toBe(201);
  expect((await server.request('GET', `/api/v1/work-requests/${made.body.id}`, { token })).status).toBe(200);
  // …but a client token is still only a client token.
  expect((await server.request('GET', '/api/v1/workers', { token })).status).toBe(403);

  const workerToken = await server.request('POST', '/api/v1/tokens', { token: server.adminToken, body: { role: 'worker' } });
  expect(workerToken.status).toBe(400);
  const enrollment = await server.request<CreatedToken>('POST', '/api/v1/tokens', { token: server.adminToken, body: { role: 'enrollment' } });
  expect(enrollment.status).toBe(201);
  expect((await server.request('POST', '/api/v1/workers/register', { token: enrollment.body.token, body: register('enrolled-2') })).status).toBe(201);
});

test('tokens are stored hashed: no table row contains a token in plain text', async () => {
  const issued = expectStatus(await server.request<CreatedToken>('POST', '/api/v1/tokens', { token: server.adminToken, body: { role: 'client' } }), 201, 'token').body
    .token;
  const tokens = [server.adminToken, server.enrollmentToken, server.clientToken, operatorToken, worker.token, issued];
  for (const token of tokens) expect(token.length).toBeGreaterThanOrEqual(20);

  const tokenRows = await server.sql('select * from api_token');
  // At least the bootstrap admin and enrollment tokens, the client and operator tokens, the worker's, and `issued`.
  expect(tokenRows.length).toBeGreaterThanOrEqual(6);
  const everything = [
    JSON.stringify(tokenRows),
    JSON.stringify(await server.sql('select * from worker')),
    JSON.stringify(await server.sql('select * from work_request')),
  ].join('\n');
  for (const token of tokens) {
    expect(everything.includes(token)).toBe(false);
    // Nor a long piece of it (e.g. the token minus a prefix).
    expect(everything.includes(token.slice(-24))).toBe(false);
  }
});
