/**
 * Operator priority adjustment: POST /work-requests/:id/priority sets an adjustment added to the spec's
 * priority; claims go by effective priority (priority + adjustment), then age. Operators and admins only; every
 * change leaves a system log line on the request.
 */
import type { LogEntry, WorkRequest } from '../../protocol/workRequest';
import { expectStatus, httpRequest, startTestServer, type TestServer } from '../helpers/server';

let server: TestServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function operatorToken(s: TestServer): Promise<string> {
  return expectStatus(
    await httpRequest<{ token: string }>(s.url, 'POST', '/api/v1/tokens', { token: s.adminToken, body: { role: 'operator', name: 'ops' } }),
    201,
    'create operator token',
  ).body.token;
}

function adjust(s: TestServer, id: number, adjustment: unknown, token: string) {
  return s.request<WorkRequest>('POST', `/api/v1/work-requests/${id}/priority`, { token, body: { priority_adjustment: adjustment } });
}

async function systemLines(s: TestServer, id: number): Promise<string[]> {
  const entries = expectStatus(await s.request<{ entries: LogEntry[] }>('GET', `/api/v1/work-requests/${id}/logs`, { token: s.clientToken }), 200, 'logs').body.entries;
  return entries.filter((entry) => entry.stream === 'system').map((entry) => entry.text);
}

test('adjustments change the claim order: effective priority first, then age', async () => {
  server = await startTestServer();
  const s = server;
  const ops = await operatorToken(s);
  const a = await s.createWorkRequest({ priority: 0 });
  const b = await s.createWorkRequest({ priority: 5 });
  const c = await s.createWorkRequest({ priority: 0 });
  const d = await s.createWorkRequest({ priority: 0 });
  // Without adjustments the order would be b (5), a, c, d (0, oldest first).

  const raised = expectStatus(await adjust(s, a.id, 10, ops), 200, 'raise a').body;
  expect(raised).toMatchObject({ id: a.id, priority: 0, priority_adjustment: 10, status: 'pending' });
  // Admins may too (admin ⊇ operator); a negative adjustment sends b below the priority-0 requests.
  expect(expectStatus(await adjust(s, b.id, -10, s.adminToken), 200, 'lower b').body).toMatchObject({ priority: 5, priority_adjustment: -10 });
  expect((await s.getWorkRequest(b.id)).priority_adjustment).toBe(-10);

  // a: 0 + 10 = 10; c, d: 0 (c older); b: 5 − 10 = −5.
  const worker = await s.registerWorker({ concurrency: 10 });
  const order: number[] = [];
  for (let i = 0; i < 4; i += 1) order.push(...(await worker.claimOk({ max: 1 })).map((item) => item.id));
  expect(order).toEqual([a.id, c.id, d.id, b.id]);
});

test('an adjustment that ties with another request leaves age to decide', async () => {
  server = await startTestServer();
  const s = server;
  const ops = await operatorToken(s);
  const older = await s.createWorkRequest({ priority: 3 });
  const newer = await s.createWorkRequest({ priority: 1 });
  expectStatus(await adjust(s, newer.id, 2, ops), 200, 'adjust'); // 1 + 2 = 3: a tie with `older`
  const worker = await s.registerWorker({ concurrency: 10 });
  expect((await worker.claimOk({ max: 1 })).map((item) => item.id)).toEqual([older.id]);
  expectStatus(await adjust(s, newer.id, 3, ops), 200, 'adjust'); // now 4: ahead of anything at 3
  const third = await s.createWorkRequest({ priority: 3 });
  expect((await worker.claimOk({ max: 1 })).map((item) => item.id)).toEqual([newer.id]);
  expect((await worker.claimOk({ max: 1 })).map((item) => item.id)).toEqual([third.id]);
});

test('clients and workers get 403 and change nothing; bad input is a 400, an unknown id a 404', async () => {
  server = await startTestServer();
  const s = server;
  const request = await s.createWorkRequest();
  const worker = await s.registerWorker();
  const forbidden = await adjust(s, request.id, 100, s.clientToken);
  expect(forbidden.status).toBe(403);
  expect(forbidden.body).toMatchObject({ error: { code: expect.any(String) } });
  expect((await adjust(s, request.id, 100, worker.token)).status).toBe(403);
  expect((await adjust(s, request.id, 100, 'not-a-token')).status).toBe(401);
  expect((await s.getWorkRequest(request.id)).priority_adjustment).toBe(0);
  expect(await systemLines(s, request.id)).toEqual([]);

  const ops = await operatorToken(s);
  expect((await adjust(s, request.id, 'high', ops)).status).toBe(400);
  expect((await adjust(s, request.id, 1.5, ops)).status).toBe(400);
  expect((await adjust(s, 999_999_999, 1, ops)).status).toBe(404);
  expect((await s.getWorkRequest(request.id)).priority_adjustment).toBe(0);
});

test('each change is recorded as a system log line: before, after, who, and the effective priority', async () => {
  server = await startTestServer();
  const s = server;
  const ops = await operatorToken(s);
  const request = await s.createWorkRequest({ priority: 2 });
  expectStatus(await adjust(s, request.id, 10, ops), 200, 'adjust');
  expectStatus(await adjust(s, request.id, 10, ops), 200, 'same again'); // no change, no line
  expectStatus(await adjust(s, request.id, -4, ops), 200, 'adjust again');
  const lines = await systemLines(s, request.id);
  expect(lines).toHaveLength(2);
  expect(lines[0]).toMatch(/^priority adjustment 0 → 10 by operator token #\d+ \(effective priority 12\)$/);
  expect(lines[1]).toMatch(/^priority adjustment 10 → -4 by operator token #\d+ \(effective priority -2\)$/);
});
