/**
 * GET /api/v1/work-requests/:id?wait_s= long-polls: it answers as soon as the status changes (an end at once,
 * woken by NOTIFY), or with the request as it is when wait_s has passed. Bad query values are a 400.
 */
import type { ErrorResponse } from '../../protocol/errors';
import type { WorkRequest } from '../../protocol/workRequest';
import { expectStatus, sleep, startTestServer, type TestServer } from '../helpers/server';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

const get = (path: string) => server.request<WorkRequest>('GET', path, { token: server.clientToken });

test('an end is answered as soon as the worker reports it', async () => {
  const worker = await server.registerWorker();
  const created = await server.createWorkRequest();
  const waiting = get(`/api/v1/work-requests/${created.id}?wait_s=20`);
  await sleep(300);
  expect((await worker.claimOk()).map((item) => item.id)).toEqual([created.id]);
  await sleep(300);
  expectStatus(await worker.complete(created.id, { result: 'success', output_data: {} }), 200, 'complete');
  const completedAt = Date.now();
  const answer = expectStatus(await waiting, 200, 'long-poll');
  expect(answer.body).toMatchObject({ id: created.id, status: 'completed', result: 'success' });
  expect(Date.now() - completedAt).toBeLessThan(1_000);
});

test('while_status: answers once the status is another (pending → running), within the re-check interval', async () => {
  const worker = await server.registerWorker();
  const created = await server.createWorkRequest();
  const waiting = get(`/api/v1/work-requests/${created.id}?wait_s=20&while_status=pending`);
  await sleep(200);
  await worker.claimOk();
  const claimedAt = Date.now();
  const answer = expectStatus(await waiting, 200, 'long-poll');
  expect(answer.body.status).toBe('running');
  expect(Date.now() - claimedAt).toBeLessThan(3_000);
  await worker.complete(created.id, { result: 'success', output_data: {} });
});

test('nothing changes: the request as it is, after wait_s', async () => {
  const created = await server.createWorkRequest({ resources: { memory: '4096GiB' } });
  const answer = expectStatus(await get(`/api/v1/work-requests/${created.id}?wait_s=1`), 200, 'long-poll');
  expect(answer.body.status).toBe('pending');
  expect(answer.elapsedMs).toBeGreaterThanOrEqual(950);
  expect(answer.elapsedMs).toBeLessThan(2_500);
});

test('bad query values are a 400 naming the parameter; an unknown id is a 404 at once', async () => {
  const created = await server.createWorkRequest();
  for (const [query, path] of [['wait_s=61', 'wait_s'], ['wait_s=soon', 'wait_s'], ['wait_s=1&while_status=done', 'while_status'], ['colour=red', '']] as const) {
    const answer = await server.request<ErrorResponse>('GET', `/api/v1/work-requests/${created.id}?${query}`, { token: server.clientToken });
    expect(answer.status).toBe(400);
    expect(JSON.stringify(answer.body.error.issues)).toContain(path);
  }
  const missing = await get('/api/v1/work-requests/987654?wait_s=10');
  expect(missing.status).toBe(404);
  expect(missing.elapsedMs).toBeLessThan(1_000);
});
