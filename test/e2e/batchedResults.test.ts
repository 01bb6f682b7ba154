/**
 * The real agent reports through the batched protocol: results ride on its claims or go in
 * POST /api/v1/workers/complete, never one call per result on the per-request route, and every task ends
 * completed with its own result.
 */
import { cleanup, shellTask, startE2EServer, startWorker, waitForEnd, withProcessLogs, type E2EServer } from './support';

let server: E2EServer;

beforeAll(async () => {
  server = await startE2EServer();
}, 60_000);

afterAll(async () => {
  await cleanup(server);
});

/** Calls answered per route, from the server's Prometheus histogram counts. */
async function callsByRoute(): Promise<Map<string, number>> {
  const answer = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${server.adminToken}` } });
  const text = await answer.text();
  const calls = new Map<string, number>();
  for (const match of text.matchAll(/^worksched_http_request_duration_seconds_count\{method="POST",route="([^"]+)",status="200"\} (\d+)$/gm)) {
    calls.set(match[1], (calls.get(match[1]) ?? 0) + Number(match[2]));
  }
  return calls;
}

it('a worker with 4 slots reports 24 results by claims and batch calls, none through the per-request route', withProcessLogs(async () => {
  const worker = await startWorker(server, { concurrency: 4 });
  const specs = Array.from({ length: 24 }, (_, index) => shellTask(index % 6 === 5 ? 'exit 2' : 'exit 0'));
  const created = [];
  for (const spec of specs) created.push(await server.client.createWorkRequest(spec));
  const done = await Promise.all(created.map((row) => waitForEnd(server.client, row.id, 60_000)));
  expect(done.map((row) => row.result)).toEqual(specs.map((_, index) => (index % 6 === 5 ? 'failure' : 'success')));
  expect(done.every((row) => row.status === 'completed' && row.worker?.name === worker.options.name)).toBe(true);

  const calls = await callsByRoute();
  expect(calls.get('/api/v1/work-requests/:id/complete') ?? 0).toBe(0);
  expect((calls.get('/api/v1/workers/claim') ?? 0) + (calls.get('/api/v1/workers/complete') ?? 0)).toBeGreaterThan(0);
  await worker.stop();
}), 90_000);
