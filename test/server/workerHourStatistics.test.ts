/**
 * The workers' hourly figures (worker_hour_statistics) against the history they summarise: GET
 * /statistics/workers answers exactly what task_history alone says — windows with edges inside hours, a window
 * inside one hour, runs exactly on hour edges, runs rolled up or still queued — every hour equals its rows, and
 * retention subtracts what it deletes. Runs are written by the server's own history writer (as a completion
 * writes them) at chosen times, or through the completion routes.
 */
import type { WorkRequestResult } from '../../protocol/workRequest';
import type { WorkerStatisticsList } from '../../protocol/statistics';
import { historyFigures, insertTaskHistory, queueKeyIncrement } from '../../server/sql/taskHistory';
import { expectStatus, GiB, startTestServer, uniqueTaskName, type SimWorker, type TestServer } from '../helpers/server';

const HOUR_MS = 3_600_000;

let server: TestServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function operatorToken(s: TestServer): Promise<string> {
  const answer = await s.request<{ token: string }>('POST', '/api/v1/tokens', { token: s.adminToken, body: { role: 'operator', name: 'hours' } });
  return expectStatus(answer, 201, 'operator token').body.token;
}

/** The database's now, to the millisecond (runs are placed relative to it). */
async function databaseNow(s: TestServer): Promise<number> {
  return Number((await s.sql<{ ms: string }>(`select floor(extract(epoch from now()) * 1000) as ms`))[0].ms);
}

interface Run {
  worker: SimWorker;
  taskName: string;
  completedAt: number;
  result: WorkRequestResult;
  /** null: no measured duration, so completed − started counts (or nothing without a start). */
  durationMs: number | null;
  startedAt: number | null;
}

/** One run through the statement recordTaskHistory runs: the history row and its queued increment. */
async function recordRun(s: TestServer, run: Run): Promise<void> {
  const history = insertTaskHistory({
    taskName: run.taskName,
    subject: '',
    context: '',
    workRequestId: null,
    attempt: 1,
    result: run.result,
    workerId: run.worker.id,
    workerName: run.worker.name,
    workerCpuCount: 4,
    workerTotalMemory: 8 * GiB,
    startedAt: run.startedAt === null ? null : new Date(run.startedAt),
    completedAt: new Date(run.completedAt),
    cost: null,
    ...historyFigures(run.durationMs === null ? {} : { runtime_statistics: { duration_ms: run.durationMs } }),
  });
  await s.server.orm.em.fork().execute(`with recorded as (${history.text}) ${queueKeyIncrement('recorded')}`, history.values);
}

/** The figures straight from task_history (the computation before the hourly figures), per worker id. */
async function rawFigures(s: TestServer, since: string): Promise<Map<number, { runs: number; failures: number; busy_time_s: number }>> {
  const rows = await s.sql<{ id: string; runs: string; failures: string; busy_ms: string }>(
    `select w.id, count(h.id) as runs, count(h.id) filter (where h.result in ('failure', 'error')) as failures,
       coalesce(sum(coalesce(h.duration_ms::numeric, extract(epoch from h.completed_at - h.started_at) * 1000)), 0) as busy_ms
     from worker w left join task_history h on h.worker_id = w.id and h.completed_at > $1::timestamptz
     group by w.id`,
    [since],
  );
  return new Map(rows.map((row) => [Number(row.id), { runs: Number(row.runs), failures: Number(row.failures), busy_time_s: Number(row.busy_ms) / 1000 }]));
}

/** Asks the route for `window` and expects every worker's figures to be those of the raw rows after its `since`. */
async function expectRawFigures(s: TestServer, token: string, window: string): Promise<WorkerStatisticsList> {
  const answer = await s.client(token).getWorkerStatistics(window);
  const raw = await rawFigures(s, answer.since);
  expect({ window, workers: answer.workers.map(({ id, runs, failures, busy_time_s }) => ({ id, runs, failures, busy_time_s })) }).toEqual({
    window,
    workers: answer.workers.map(({ id }) => ({ id, ...raw.get(id)! })),
  });
  return answer;
}

/** Every (worker, hour) of worker_hour_statistics against the rows of that hour; an emptied hour may stay at zero. */
async function expectHoursEqualRows(s: TestServer): Promise<void> {
  const differing = await s.sql(
    `with rows as (
       select worker_id, date_trunc('hour', completed_at, 'UTC') as hour, count(*) as runs,
         count(*) filter (where result in ('failure', 'error')) as failures,
         coalesce(sum(coalesce(duration_ms::numeric, extract(epoch from completed_at - started_at) * 1000)), 0) as busy_ms
       from task_history where worker_id is not null group by 1, 2
     )
     select * from worker_hour_statistics b full join rows r using (worker_id, hour)
     where (b.runs, b.failures, b.busy_ms) is distinct from (r.runs, r.failures, r.busy_ms)
       and not (r.runs is null and b.runs = 0 and b.failures = 0 and b.busy_ms = 0)`,
  );
  expect(differing).toEqual([]);
}

/** Runs of two workers over the last `hours` hours: on each hour edge, a millisecond either side, and mid-hour. */
function runsOverHours(now: number, workers: SimWorker[], taskName: string, hours: number): Run[] {
  const lastEdge = Math.floor(now / HOUR_MS) * HOUR_MS;
  const runs: Run[] = [];
  const results: WorkRequestResult[] = ['success', 'failure', 'error', 'skipped', 'success'];
  for (let hour = 0; hour <= hours; hour += 1) {
    const edge = lastEdge - hour * HOUR_MS;
    for (const [index, completedAt] of [edge, edge - 1, edge + 1, edge + 17 * 60_000 + 123].entries()) {
      if (completedAt > now) continue;
      const variant = (hour + index) % 3;
      runs.push({
        worker: workers[(hour + index) % workers.length],
        taskName,
        completedAt,
        result: results[(hour * 4 + index) % results.length],
        durationMs: variant === 0 ? null : 1000 + hour * 37 + index,
        startedAt: variant === 1 ? null : completedAt - 2500 - index * 11,
      });
    }
  }
  return runs;
}

test('GET /statistics/workers equals the raw history for every window shape, with runs on hour edges, rolled up or queued', async () => {
  server = await startTestServer();
  const s = server;
  // Only this test's own passes fold the queue: a scheduled tick between the two halves would fold the second
  // half too (seen in a fresh-clone run: 10 of 64 left queued), and "queued" would go untested.
  await s.server.housekeeping.stop();
  const token = await operatorToken(s);
  const workers = [await s.registerWorker({ concurrency: 2 }), await s.registerWorker()];
  const idle = await s.registerWorker();
  const now = await databaseNow(s);
  const runs = runsOverHours(now, workers, uniqueTaskName('hours'), 30);
  // A week back and beyond: whole days of hours read from the hourly figures, and runs just out of a 7d window.
  for (const ago of [7 * 24 * HOUR_MS - 60_000, 7 * 24 * HOUR_MS + 60_000, 6 * 24 * HOUR_MS, 8 * 24 * HOUR_MS]) {
    runs.push({ worker: workers[0], taskName: 'hours.old', completedAt: now - ago, result: 'failure', durationMs: 5000, startedAt: now - ago - 5000 });
  }
  const half = Math.floor(runs.length / 2);
  for (const run of runs.slice(0, half)) await recordRun(s, run);
  await s.runHousekeeping(); // these are folded into the hours; the rest stay queued until the route rolls them up
  expect(Number((await s.sql<{ n: string }>(`select count(*) as n from worker_hour_statistics`))[0].n)).toBeGreaterThan(10);
  for (const run of runs.slice(half)) await recordRun(s, run);
  expect(Number((await s.sql<{ n: string }>(`select count(*) as n from task_key_increment where worker_id is not null`))[0].n)).toBe(runs.length - half);

  for (const window of ['90s', '15m', '1h', '90m', '3h', '24h', '30h', '7d', '90d']) {
    const answer = await expectRawFigures(s, token, window);
    expect(answer.workers.find((row) => row.id === idle.id)).toMatchObject({ runs: 0, failures: 0, busy_time_s: 0 });
  }
  const all = await s.client(token).getWorkerStatistics('90d');
  expect(all.workers.reduce((sum, row) => sum + row.runs, 0)).toBe(runs.length);
  await expectHoursEqualRows(s);
});

test('a window of whole hours counts a run completed exactly at its start out, as the raw history does', async () => {
  server = await startTestServer();
  const s = server;
  const token = await operatorToken(s);
  const worker = await s.registerWorker();
  const now = await databaseNow(s);
  // Every run sits on an hour edge: whichever hour the window starts in, the edge runs near it are judged alike.
  for (let hour = 1; hour <= 5; hour += 1) {
    const completedAt = Math.floor(now / HOUR_MS) * HOUR_MS - hour * HOUR_MS;
    await recordRun(s, { worker, taskName: 'edges', completedAt, result: 'success', durationMs: 1000 * hour, startedAt: completedAt - 1000 * hour });
  }
  for (const window of ['1h', '2h', '3h', '4h', '5h', '6h']) await expectRawFigures(s, token, window);
  await expectHoursEqualRows(s);
});

test('retention pruning takes the deleted runs out of their hours: the figures stay those of the kept history', async () => {
  server = await startTestServer({ historyRetentionRuns: 3 });
  const s = server;
  const token = await operatorToken(s);
  const workers = [await s.registerWorker(), await s.registerWorker()];
  const now = await databaseNow(s);
  const crowded = runsOverHours(now, workers, uniqueTaskName('crowded'), 20);
  const few = runsOverHours(now, workers, uniqueTaskName('few'), 0).slice(0, 2);
  for (const run of [...crowded, ...few]) await recordRun(s, run);
  await s.runHousekeeping();
  await expectRawFigures(s, token, '24h');

  const deleted = await s.server.housekeeping.pruneHistoryOnce();
  // The crowded key keeps its 3 newest runs (plus its last success and last failure when older); the other, all.
  expect(deleted).toBeGreaterThanOrEqual(crowded.length - 5);
  expect(Number((await s.sql<{ n: string }>(`select count(*) as n from task_history`))[0].n)).toBe(crowded.length + few.length - deleted);
  await expectHoursEqualRows(s);
  for (const window of ['1h', '3h', '24h', '7d']) await expectRawFigures(s, token, window);
});

test('runs completed through the completion routes are queued with their worker and folded into its hour', async () => {
  server = await startTestServer();
  const s = server;
  const token = await operatorToken(s);
  const worker = await s.registerWorker({ concurrency: 4 });
  const taskName = uniqueTaskName('routes');
  const created = [];
  for (let index = 0; index < 4; index += 1) created.push(await s.createWorkRequest({ task_name: taskName, max_attempts: 1 }));
  expect((await worker.claimOk({ max: 4 })).length).toBe(4);
  // One alone (success), one alone (failure: the full path), two in one batch.
  expectStatus(await worker.complete(created[0].id, { result: 'success', output_data: { runtime_statistics: { duration_ms: 1500 } } }), 200, 'complete');
  expectStatus(await worker.complete(created[1].id, { result: 'failure', output_data: { errors: [{ code: 'exit_code', message: 'exit 1' }] } }), 200, 'fail');
  const batch = await worker.call<{ results: Array<{ id: number; status: number }> }>('POST', '/api/v1/workers/complete', {
    results: [
      { id: created[2].id, result: 'success', output_data: { runtime_statistics: { duration_ms: 2500 } } },
      { id: created[3].id, result: 'skipped', output_data: { skip_reason: 'nothing to do' } },
    ],
  });
  expect(expectStatus(batch, 200, 'batch complete').body.results.map((item) => item.status)).toEqual([200, 200]);

  const queued = await s.sql<{ worker_id: string }>(`select worker_id from task_key_increment where task_name = $1`, [taskName]);
  // The server's own housekeeping tick may have folded some already (no lock keeps it out): what is still queued
  // names the worker, and the hour figures below count all four.
  expect(queued.length).toBeLessThanOrEqual(4);
  for (const row of queued) expect(Number(row.worker_id)).toBe(worker.id);
  await s.runHousekeeping();
  await expectHoursEqualRows(s);
  const answer = await expectRawFigures(s, token, '24h');
  expect(answer.workers.find((row) => row.id === worker.id)).toMatchObject({ runs: 4, failures: 1 });
});
