/**
 * The real agent reports through the batched protocol: results ride on its claims or go in
 * POST /api/v1/workers/complete, never one call per result on the per-request route, and every task ends
 * completed with its own result; a short task's log entries ride with its result.
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

it('a short task\'s log rides with its result: each log is whole, with far fewer log calls than tasks', withProcessLogs(async () => {
  const before = (await callsByRoute()).get('/api/v1/work-requests/:id/logs') ?? 0;
  const worker = await startWorker(server, { concurrency: 4 });
  const created = [];
  for (let index = 0; index < 16; index += 1) created.push(await server.client.createWorkRequest(shellTask(`echo "out ${index}"; echo "err ${index}" >&2`)));
  const done = await Promise.all(created.map((row) => waitForEnd(server.client, row.id, 60_000)));
  expect(done.every((row) => row.result === 'success')).toBe(true);
  for (const [index, row] of created.entries()) {
    const { entries } = await server.client.getLogs(row.id);
    expect(entries.filter((entry) => entry.stream === 'stdout').map((entry) => entry.text).join('')).toBe(`out ${index}\n`);
    expect(entries.filter((entry) => entry.stream === 'stderr').map((entry) => entry.text).join('')).toBe(`err ${index}\n`);
    // Numbered without a gap from 0: the worker's own lines (started, result) are there too.
    expect(entries.map((entry) => entry.seq)).toEqual(entries.map((_, seq) => seq));
    expect(entries.some((entry) => entry.stream === 'system' && entry.text.startsWith('result: success'))).toBe(true);
  }
  // One log call per task before; now only a task that outlives the shipper's 1 s flush sends its own.
  const logCalls = ((await callsByRoute()).get('/api/v1/work-requests/:id/logs') ?? 0) - before;
  expect(logCalls).toBeLessThan(created.length / 2);
  await worker.stop();
}), 90_000);
