/**
 * GET /statistics/tasks answers a key's percentiles from task_key's cache while the key's retained successful
 * runs are unchanged, and computes them again after a success is added or pruned. Real HTTP, real database;
 * the cached value is read (and, to prove it is what is served, overwritten) in task_key.
 */
import type { TaskStatistics, TaskStatisticsDetail, TaskStatisticsList } from '../../protocol/statistics';
import { whileRowsLocked } from '../helpers/database';
import { expectStatus, startTestServer, uniqueTaskName, type SimWorker, type TestServer } from '../helpers/server';

let server: TestServer | undefined;
let operatorToken: string;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(retentionRuns: number): Promise<{ s: TestServer; worker: SimWorker }> {
  server = await startTestServer({ historyRetentionRuns: retentionRuns });
  const s = server;
  operatorToken = expectStatus(
    await s.request<{ token: string }>('POST', '/api/v1/tokens', { token: s.adminToken, body: { role: 'operator', name: 'cache' } }),
    201,
    'create operator token',
  ).body.token;
  return { s, worker: await s.registerWorker() };
}

/** One run of `taskName` (create → claim → complete) with this duration; `success` or `failure`. */
async function runOnce(s: TestServer, worker: SimWorker, taskName: string, durationMs: number, result: 'success' | 'failure' = 'success') {
  const created = await s.createWorkRequest({ task_name: taskName, max_attempts: 1 });
  expect((await worker.claimOk({ max: 1 })).map((item) => item.id)).toEqual([created.id]);
  const output = { runtime_statistics: { duration: Math.round(durationMs / 1000), duration_ms: durationMs, memory: 1_000_000, disk_space: 2_000_000 } };
  expectStatus(await worker.complete(created.id, { result, output_data: output }), 200, `complete ${created.id}`);
}

async function statisticsOf(s: TestServer, taskName: string): Promise<TaskStatistics> {
  const list = expectStatus(
    await s.request<TaskStatisticsList>('GET', `/api/v1/statistics/tasks?task_name=${encodeURIComponent(taskName)}`, { token: operatorToken }),
    200,
    'list statistics',
  ).body;
  expect(list.tasks).toHaveLength(1);
  return list.tasks[0];
}

async function cacheOf(s: TestServer, taskName: string) {
  const [row] = await s.sql<{ figures_version: number; percentiles_version: number | null; percentiles: { format: number; percentiles: { durationMs: { max: number } } | null } | null }>(
    `select figures_version, percentiles_version, percentiles from task_key where task_name = $1`,
    [taskName],
  );
  return row;
}

test('a page is answered from the cache until a success is added; a failure leaves the cache valid', async () => {
  const { s, worker } = await start(1000);
  const task = uniqueTaskName('cached');
  for (const ms of [1000, 2000, 3000]) await runOnce(s, worker, task, ms);

  const first = await statisticsOf(s, task);
  expect(first.duration?.max).toBe(3);
  const cache = await cacheOf(s, task);
  expect(cache.percentiles_version).toBe(cache.figures_version);
  expect(cache.percentiles?.percentiles?.durationMs.max).toBe(3000);

  // What is served is the cached value: overwritten, it comes back as written.
  await s.sql(`update task_key set percentiles = jsonb_set(percentiles, '{percentiles,durationMs,max}', '9000') where task_name = $1`, [task]);
  expect((await statisticsOf(s, task)).duration?.max).toBe(9);
  // So does the per-task view's key.
  const detail = expectStatus(
    await s.request<TaskStatisticsDetail>('GET', `/api/v1/statistics/tasks/${encodeURIComponent(task)}`, { token: operatorToken }),
    200,
    'detail',
  ).body;
  expect(detail.keys[0].duration?.max).toBe(9);

  // A failure does not change the success percentiles: still cached.
  await runOnce(s, worker, task, 50_000, 'failure');
  const afterFailure = await statisticsOf(s, task);
  expect(afterFailure.runs).toBe(4);
  expect(afterFailure.duration?.max).toBe(9);

  // A new success makes the cache stale: computed again from the history, and stored.
  await runOnce(s, worker, task, 4000);
  const afterSuccess = await statisticsOf(s, task);
  expect(afterSuccess.successes).toBe(4);
  expect(afterSuccess.duration?.max).toBe(4);
  expect(afterSuccess.duration?.p50).toBe(2.5);
  const refreshed = await cacheOf(s, task);
  expect(refreshed.percentiles_version).toBe(refreshed.figures_version);
  expect(refreshed.figures_version).toBeGreaterThan(cache.figures_version);
  expect(refreshed.percentiles?.percentiles?.durationMs.max).toBe(4000);
});

test('pruning a successful run makes the cache stale: the percentiles are over the retained runs', async () => {
  const { s, worker } = await start(2);
  const task = uniqueTaskName('pruned');
  // The longest run is the oldest: pruned once only the newest 2 (and the last success) are kept.
  for (const ms of [9000, 1000, 2000, 3000]) await runOnce(s, worker, task, ms);
  expect((await statisticsOf(s, task)).duration?.max).toBe(9);

  const before = await cacheOf(s, task);
  expect(await s.server.housekeeping.pruneHistoryOnce()).toBe(2);
  expect((await cacheOf(s, task)).figures_version).toBeGreaterThan(before.figures_version);

  const after = await statisticsOf(s, task);
  expect(after.runs).toBe(4); // the counters count every run
  expect(after.duration?.max).toBe(3);
  expect(after.duration?.p50).toBe(2.5);
});

test('a cached value of another format is computed again', async () => {
  const { s, worker } = await start(1000);
  const task = uniqueTaskName('format');
  await runOnce(s, worker, task, 1000);
  expect((await statisticsOf(s, task)).duration?.max).toBe(1);
  await s.sql(`update task_key set percentiles = '{"format": 0, "percentiles": {"durationMs": {"max": 9000}}}' where task_name = $1`, [task]);
  expect((await statisticsOf(s, task)).duration?.max).toBe(1);
  expect((await cacheOf(s, task)).percentiles?.format).toBe(1);
});

test('a read whose key row another transaction holds answers without waiting, and leaves that key for the next read to store', async () => {
  const { s, worker } = await start(1000);
  const task = uniqueTaskName('locked');
  for (const ms of [1000, 3000]) await runOnce(s, worker, task, ms);
  expect((await statisticsOf(s, task)).duration?.max).toBe(3); // rolled up: nothing left that would write the row
  await s.sql(`update task_key set percentiles_version = null where task_name = $1`, [task]);

  // Housekeeping (a roll-up, retention, the efficiency refresh) holding the key's row.
  const lock = { text: `select id from task_key where task_name = $1 for update`, values: [task] };
  const answered = await whileRowsLocked(s.db.url, lock, async () => ({ statistics: await statisticsOf(s, task), cache: await cacheOf(s, task) }));
  expect(answered).toMatchObject({ statistics: { duration: { max: 3 } }, cache: { percentiles_version: null } });

  expect((await statisticsOf(s, task)).duration?.max).toBe(3);
  const stored = await cacheOf(s, task);
  expect(stored.percentiles_version).toBe(stored.figures_version);
});
