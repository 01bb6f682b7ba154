/**
 * GET /api/v1/statistics/{tasks, tasks/:task_name, workers, summary} over real HTTP on a real database. The
 * history is made through the API (simulated workers create → claim → complete with known runtime statistics),
 * and every figure is checked against the same figure computed here by hand: counters, success rate, last
 * times, percentiles (a percentile_cont of our own), filters, every sort order, keyset pagination, the per-task
 * view with its recent runs, worker statistics over a window, the summary; roles and bad input.
 */
import type { OutputData, RuntimeStatistics } from '../../protocol/outputData';
import type {
  RecentRun,
  StatisticsSummary,
  TaskStatistics,
  TaskStatisticsDetail,
  TaskStatisticsList,
  TaskStatisticsSort,
  WorkerStatisticsList,
} from '../../protocol/statistics';
import type { WorkRequest, WorkRequestResult } from '../../protocol/workRequest';
import { expectStatus, GiB, startTestServer, type ApiResponse, type SimWorker, type TestServer } from '../helpers/server';

const MB = 100_000_000; // memory and disk figures are multiples of this: interpolated percentiles stay whole bytes

interface Key {
  task: string;
  subject: string | null;
  context: string | null;
}

/** One finished attempt, as the test made it and the server answered. */
interface Run {
  key: Key;
  result: WorkRequestResult;
  stats?: RuntimeStatistics;
  errorCode?: string;
  worker: SimWorker;
  request: WorkRequest;
}

let server: TestServer;
let operatorToken: string;
let w1: SimWorker;
let w2: SimWorker;
let w3: SimWorker;
let w4: SimWorker;
const runs: Run[] = [];

const A: Key = { task: 'stats.build', subject: 'pkg-a', context: 'amd64' };
const B: Key = { task: 'stats.build', subject: 'pkg-a', context: 'arm64' };
const C: Key = { task: 'stats.build', subject: 'pkg-b', context: null };
const D: Key = { task: 'stats.build', subject: null, context: null };
const E: Key = { task: 'stats.test', subject: 'pkg-a', context: 'amd64' };
const F: Key = { task: 'other.lint', subject: null, context: null };
const G: Key = { task: 'ns/job', subject: 'x', context: null };
const X1: Key = { task: 'zz.extra', subject: 's1', context: null };
const X2: Key = { task: 'zz.extra', subject: 's2', context: null };
const X3: Key = { task: 'zz.extra', subject: 's3', context: null };
const OLD: Key = { task: 'zz.old', subject: null, context: null };

const stats = (durationMs: number, cpuMs: number, memory: number, disk: number): RuntimeStatistics => ({
  duration: Math.round(durationMs / 1000),
  cpu_time: Math.round(cpuMs / 1000),
  duration_ms: durationMs,
  cpu_time_ms: cpuMs,
  memory,
  disk_space: disk,
});

/** create → claim (by `worker`, which must get exactly this request) → complete. */
async function run(worker: SimWorker, key: Key, result: WorkRequestResult, runtime?: RuntimeStatistics, errorCode?: string): Promise<Run> {
  const created = await server.createWorkRequest({
    task_name: key.task,
    ...(key.subject !== null ? { subject: key.subject } : {}),
    ...(key.context !== null ? { context: key.context } : {}),
    max_attempts: 1, // a failure is final: no retry attempt lingers in the queue
  });
  const claimed = await worker.claimOk({ max: 1 });
  expect(claimed.map((item) => item.id)).toEqual([created.id]);
  const output: OutputData = {
    ...(runtime ? { runtime_statistics: runtime } : {}),
    ...(errorCode ? { errors: [{ code: errorCode, message: `it went wrong: ${errorCode}` }] } : {}),
  };
  const done = expectStatus(await worker.complete(created.id, { result, output_data: output }), 200, `complete ${created.id}`).body;
  expect(done.status).toBe('completed');
  const made: Run = { key, result, stats: runtime, errorCode, worker, request: done };
  runs.push(made);
  return made;
}

/** PostgreSQL's percentile_cont: linear interpolation between the closest ranks; null for no values. */
function percentileCont(values: number[], fraction: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = fraction * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
}

const maxOf = (values: number[]): number | null => (values.length === 0 ? null : Math.max(...values));
const seconds = (ms: number | null): number | null => (ms === null ? null : ms / 1000);
const bytes = (value: number | null): number | null => (value === null ? null : Math.round(value));
const latest = (items: Run[]): string | null =>
  items.length === 0 ? null : items.map((item) => item.request.completed_at!).sort().at(-1)!;

function sameKey(a: Key, b: Key): boolean {
  return a.task === b.task && a.subject === b.subject && a.context === b.context;
}

function keyOf(row: Pick<TaskStatistics, 'task_name' | 'subject' | 'context'>): Key {
  return { task: row.task_name, subject: row.subject, context: row.context };
}

const label = (key: Key) => `${key.task}|${key.subject ?? ''}|${key.context ?? ''}`;

/** The statistics of a set of runs, computed by hand (the key fields come from `key`). */
function expectedStatistics(key: Key, of: Run[]): TaskStatistics {
  const successes = of.filter((item) => item.result === 'success');
  const failures = of.filter((item) => item.result === 'failure' || item.result === 'error');
  const figure = (pick: (value: RuntimeStatistics) => number | undefined) =>
    successes.map((item) => (item.stats ? pick(item.stats) : undefined)).filter((value): value is number => value !== undefined);
  const duration = figure((value) => value.duration_ms);
  const cpu = figure((value) => value.cpu_time_ms);
  const memory = figure((value) => value.memory);
  const disk = figure((value) => value.disk_space);
  return {
    task_name: key.task,
    subject: key.subject,
    context: key.context,
    runs: of.length,
    successes: successes.length,
    failures: failures.length,
    success_rate: of.length === 0 ? null : successes.length / of.length,
    sampled_runs: successes.length,
    // Its workers register without a cost_per_hour: their runs cost nothing.
    cost: 0,
    duration: { p50: seconds(percentileCont(duration, 0.5)), p95: seconds(percentileCont(duration, 0.95)), max: seconds(maxOf(duration)) },
    cpu_time: { p50: seconds(percentileCont(cpu, 0.5)), p95: seconds(percentileCont(cpu, 0.95)) },
    memory: { p50: bytes(percentileCont(memory, 0.5)), p95: bytes(percentileCont(memory, 0.95)), max: maxOf(memory) },
    disk_space: { p95: bytes(percentileCont(disk, 0.95)), max: maxOf(disk) },
    last_success_at: latest(successes),
    last_failure_at: latest(failures),
    last_run_at: latest(of),
    // No request here names memory or cpu: no efficiency.
    efficiency: null,
  };
}

function expectedFor(key: Key): TaskStatistics {
  return expectedStatistics(key, runs.filter((item) => sameKey(item.key, key)));
}

/** Every key the test made, in the order of its first run (task_key ids follow it). */
function allKeys(): Key[] {
  const keys: Key[] = [];
  for (const item of runs) if (!keys.some((key) => sameKey(key, item.key))) keys.push(item.key);
  return keys;
}

/** Floats (seconds, rates) to 9 digits; everything else exactly. */
function expectStatisticsEqual(actual: TaskStatistics, expected: TaskStatistics): void {
  const rounded = (value: TaskStatistics) =>
    JSON.parse(JSON.stringify(value, (_name, field: unknown) => (typeof field === 'number' && !Number.isInteger(field) ? Number(field.toFixed(9)) : field))) as TaskStatistics;
  expect(rounded(actual)).toEqual(rounded(expected));
}

function get<T>(path: string, token: string = operatorToken): Promise<ApiResponse<T>> {
  return server.request<T>('GET', path, { token });
}

async function getOk<T>(path: string): Promise<T> {
  return expectStatus(await get<T>(path), 200, `GET ${path}`).body;
}

/** All pages of /statistics/tasks for `query`, following next_cursor. */
async function allPages(query: string, limit: number): Promise<{ rows: TaskStatistics[]; pages: number }> {
  const rows: TaskStatistics[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page: TaskStatisticsList = await getOk<TaskStatisticsList>(
      `/api/v1/statistics/tasks?${query}&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    expect(page.tasks.length).toBeLessThanOrEqual(limit);
    rows.push(...page.tasks);
    cursor = page.next_cursor;
    pages += 1;
    expect(pages).toBeLessThan(100);
  } while (cursor);
  return { rows, pages };
}

beforeAll(async () => {
  server = await startTestServer();
  operatorToken = expectStatus(
    await server.request<{ token: string }>('POST', '/api/v1/tokens', { token: server.adminToken, body: { role: 'operator', name: 'stats' } }),
    201,
    'create operator token',
  ).body.token;
  w1 = await server.registerWorker({ name: 'stats-w1', concurrency: 2, totalMemory: 8 * GiB });
  w2 = await server.registerWorker({ name: 'stats-w2', concurrency: 1, totalMemory: 8 * GiB });
  w3 = await server.registerWorker({ name: 'stats-w3', concurrency: 4 }); // never runs anything in the history
  w4 = await server.registerWorker({ name: 'stats-w4', concurrency: 1 });

  // Key A: 5 successes, a failure with huge figures (must not count in the percentiles), an error.
  await run(w1, A, 'success', stats(1_200, 900, 3 * MB, 10 * MB));
  await run(w1, A, 'failure', stats(99_000, 98_000, 70 * MB, 900 * MB), 'exit_code');
  await run(w1, A, 'success', stats(3_400, 2_500, 5 * MB, 12 * MB));
  await run(w1, A, 'success', stats(2_050, 1_100, 4 * MB, 11 * MB));
  await run(w1, A, 'error', undefined, 'spawn_failed');
  await run(w1, A, 'success', stats(7_777, 6_001, 9 * MB, 30 * MB));
  await run(w1, A, 'success', stats(2_600, 2_000, 6 * MB, 14 * MB));
  await run(w1, A, 'failure', stats(500, 400, 1 * MB, 1 * MB), 'signal');
  // Key B: 8 successes with spread-out figures.
  for (const [index, durationMs] of [4_000, 1_000, 9_500, 3_300, 2_200, 6_100, 800, 5_000].entries()) {
    await run(w1, B, 'success', stats(durationMs, Math.round(durationMs * 1.5), (index + 2) * MB, (20 - index) * MB));
  }
  // Key C (no context): successes and failures interleaved, on the other worker.
  await run(w2, C, 'success', stats(10_000, 1_000, 2 * MB, 5 * MB));
  await run(w2, C, 'failure', stats(50, 10, 1 * MB, 1 * MB), 'exit_code');
  await run(w2, C, 'success', stats(30_000, 2_000, 4 * MB, 7 * MB));
  await run(w2, C, 'failure', stats(70, 10, 1 * MB, 1 * MB), 'exit_code');
  await run(w2, C, 'success', stats(20_000, 1_500, 3 * MB, 6 * MB));
  // Key D (no subject, no context): one success without runtime statistics.
  await run(w2, D, 'success');
  // Key E: another task; a skipped run counts as a run, neither success nor failure.
  await run(w2, E, 'success', stats(600, 500, 1 * MB, 2 * MB));
  await run(w2, E, 'skipped');
  await run(w2, E, 'success', stats(700, 650, 2 * MB, 2 * MB));
  await run(w2, E, 'success', stats(650, 600, 3 * MB, 3 * MB));
  // Key F: only a failure: a success rate of 0 and no percentiles.
  await run(w2, F, 'failure', stats(1_000, 900, 1 * MB, 1 * MB), 'exit_code');
  // Key G: a task name with a slash.
  await run(w2, G, 'success', stats(1_500, 1_400, 2 * MB, 2 * MB));
  // Ties for the sort orders (runs = 1, success_rate = 1).
  await run(w2, X1, 'success', stats(100, 90, 1 * MB, 1 * MB));
  await run(w2, X2, 'success', stats(200, 90, 1 * MB, 1 * MB));
  await run(w2, X3, 'failure', stats(300, 90, 1 * MB, 1 * MB), 'exit_code');
  // One run on w4, moved out of the last hour below (for the worker window).
  await run(w4, OLD, 'success', stats(4_000, 100, 1 * MB, 1 * MB));
});

afterAll(async () => {
  await server?.close();
});

describe('GET /api/v1/statistics/tasks', () => {
  test('every key: counters, success rate, last times and percentiles of successful runs equal the hand-computed ones', async () => {
    const answer = await getOk<TaskStatisticsList>('/api/v1/statistics/tasks?limit=500');
    expect(answer.next_cursor).toBeNull();
    const expected = allKeys()
      .map(expectedFor)
      .sort((a, b) => compareNames(a, b));
    expect(answer.tasks.map((row) => label(keyOf(row)))).toEqual(expected.map((row) => label(keyOf(row))));
    answer.tasks.forEach((row, index) => expectStatisticsEqual(row, expected[index]));

    // Spot checks that the hand computation is the one meant: key A's p95 duration is at rank 0.95 × (5 − 1) = 3.8,
    // 0.8 of the way from the 4th (3.4 s) to the 5th (7.777 s) successful run.
    const a = answer.tasks.find((row) => sameKey(keyOf(row), A))!;
    expect(a).toMatchObject({ runs: 8, successes: 5, failures: 3, sampled_runs: 5 });
    expect(a.duration.p95).toBeCloseTo(3.4 + (7.777 - 3.4) * 0.8, 9);
    expect(a.memory.max).toBe(9 * MB); // the failure's 7 GB peak is not in it
    const d = answer.tasks.find((row) => sameKey(keyOf(row), D))!;
    expect(d).toMatchObject({ subject: null, context: null, sampled_runs: 1, duration: { p50: null, p95: null, max: null } });
    const f = answer.tasks.find((row) => sameKey(keyOf(row), F))!;
    expect(f).toMatchObject({ success_rate: 0, sampled_runs: 0, last_success_at: null, memory: { p50: null, p95: null, max: null } });
    const e = answer.tasks.find((row) => sameKey(keyOf(row), E))!;
    expect(e).toMatchObject({ runs: 4, successes: 3, failures: 0, success_rate: 0.75 });
  });

  test.each([
    ['task_name=stats.build', (key: Key) => key.task === 'stats.build'],
    ['task_name_prefix=stats.', (key: Key) => key.task.startsWith('stats.')],
    ['task_name_prefix=stats_', (_key: Key) => false], // "_" is a literal, not LIKE's wildcard
    ['task_name_prefix=ns%2F', (key: Key) => key.task.startsWith('ns/')],
    ['subject=pkg-a', (key: Key) => key.subject === 'pkg-a'],
    ['subject=', (key: Key) => key.subject === null],
    ['context=amd64', (key: Key) => key.context === 'amd64'],
    ['context=', (key: Key) => key.context === null],
    ['min_runs=4', (key: Key) => runs.filter((item) => sameKey(item.key, key)).length >= 4],
    ['task_name_prefix=stats.&subject=pkg-a&min_runs=5', (key: Key) => key.task.startsWith('stats.') && key.subject === 'pkg-a' && runs.filter((item) => sameKey(item.key, key)).length >= 5],
  ])('filter %s', async (query, keep) => {
    const answer = await getOk<TaskStatisticsList>(`/api/v1/statistics/tasks?${query}&limit=500`);
    const expected = allKeys().filter(keep).map(expectedFor).sort(compareNames);
    expect(answer.tasks.map((row) => label(keyOf(row)))).toEqual(expected.map((row) => label(keyOf(row))));
    answer.tasks.forEach((row, index) => expectStatisticsEqual(row, expected[index]));
  });

  const SORTS: TaskStatisticsSort[] = ['task_name', '-runs', 'runs', '-failures', '-success_rate', 'success_rate', '-last_run_at'];

  test.each(SORTS)('sort=%s orders the keys as computed by hand (ties by first run)', async (sort) => {
    const answer = await getOk<TaskStatisticsList>(`/api/v1/statistics/tasks?sort=${encodeURIComponent(sort)}&limit=500`);
    expect(answer.tasks.map((row) => label(keyOf(row)))).toEqual(expectedOrder(sort).map(label));
  });

  test.each(SORTS.flatMap((sort) => [[sort, 1], [sort, 2], [sort, 3]] as Array<[TaskStatisticsSort, number]>))(
    'sort=%s, limit=%d: the pages list every key exactly once, in order',
    async (sort, limit) => {
      const { rows, pages } = await allPages(`sort=${encodeURIComponent(sort)}`, limit);
      const keys = allKeys();
      expect(pages).toBe(Math.ceil(keys.length / limit));
      expect(rows.map((row) => label(keyOf(row)))).toEqual(expectedOrder(sort).map(label));
      expect(new Set(rows.map((row) => label(keyOf(row)))).size).toBe(keys.length);
    },
  );

  test('pagination with a filter; keys added between pages: before the cursor not listed, after it listed once', async () => {
    const first = await getOk<TaskStatisticsList>('/api/v1/statistics/tasks?task_name_prefix=stats.&limit=2');
    expect(first.tasks.map((row) => label(keyOf(row)))).toEqual([label(D), label(A)]);
    const before: Key = { task: 'stats.alpha', subject: null, context: null };
    const after: Key = { task: 'stats.zeta', subject: null, context: null };
    await run(w2, before, 'success', stats(100, 50, 1 * MB, 1 * MB));
    await run(w2, after, 'success', stats(100, 50, 1 * MB, 1 * MB));
    const second = await getOk<TaskStatisticsList>(`/api/v1/statistics/tasks?task_name_prefix=stats.&limit=2&cursor=${encodeURIComponent(first.next_cursor!)}`);
    expect(second.tasks.map((row) => label(keyOf(row)))).toEqual([label(B), label(C)]);
    const third = await getOk<TaskStatisticsList>(`/api/v1/statistics/tasks?task_name_prefix=stats.&limit=2&cursor=${encodeURIComponent(second.next_cursor!)}`);
    expect(third.tasks.map((row) => label(keyOf(row)))).toEqual([label(E), label(after)]);
    expect(third.next_cursor).toBeNull();
  });

  test('the SDK pages through the same keys', async () => {
    const client = server.client(operatorToken);
    const listed: string[] = [];
    for await (const row of client.iterateTaskStatistics({ sort: '-runs', limit: 4 })) listed.push(label(keyOf(row)));
    expect(listed).toEqual(expectedOrder('-runs').map(label));
    const page = await client.getTaskStatistics({ task_name: 'stats.build', subject: '', limit: 10 });
    expect(page.tasks.map((row) => label(keyOf(row)))).toEqual([label(D)]);
  });

  test('a cursor only works with the sort and filters it was made for', async () => {
    const page = await getOk<TaskStatisticsList>('/api/v1/statistics/tasks?sort=-runs&limit=2');
    const cursor = encodeURIComponent(page.next_cursor!);
    // Forged cursors with the right sort and filters but values PostgreSQL could not cast must be a 400 too.
    const lastRunPage = await getOk<TaskStatisticsList>('/api/v1/statistics/tasks?sort=-last_run_at&limit=2');
    const forge = (real: string, values: string[]) => {
      const { s: sort, f: filters } = JSON.parse(Buffer.from(real, 'base64url').toString('utf8')) as { s: string; f: string };
      return encodeURIComponent(Buffer.from(JSON.stringify({ s: sort, f: filters, v: values })).toString('base64url'));
    };
    for (const query of [
      `sort=runs&cursor=${cursor}`,
      `sort=-runs&min_runs=2&cursor=${cursor}`,
      'cursor=bm90LWEtY3Vyc29y',
      `cursor=${encodeURIComponent(Buffer.from('{"s":"-runs","f":"x","v":["1"]}').toString('base64url'))}`,
      `sort=-runs&cursor=${forge(page.next_cursor!, ['abc', '1'])}`,
      `sort=-runs&cursor=${forge(page.next_cursor!, ['99999999999', '1'])}`,
      `sort=-runs&cursor=${forge(page.next_cursor!, ['1'])}`,
      `sort=-last_run_at&cursor=${forge(lastRunPage.next_cursor!, ['2026-02-31 10:00:00+00', '1'])}`,
    ]) {
      const answer = await get<{ error: { code: string; issues: Array<{ path: string }> } }>(`/api/v1/statistics/tasks?${query}`);
      expect({ query, status: answer.status, paths: answer.body.error.issues.map((issue) => issue.path) }).toEqual({ query, status: 400, paths: ['cursor'] });
    }
  });
});

describe('GET /api/v1/statistics/tasks/:task_name', () => {
  test('keys by subject/context, the total across them, and the 20 newest runs', async () => {
    const detail = await getOk<TaskStatisticsDetail>('/api/v1/statistics/tasks/stats.build');
    expect(detail.task_name).toBe('stats.build');
    expect(detail.keys_truncated).toBe(false);
    const keys = [D, A, B, C];
    expect(detail.keys.map((row) => label(keyOf(row)))).toEqual(keys.map(label));
    detail.keys.forEach((row, index) => expectStatisticsEqual(row, expectedFor(keys[index])));
    const taskRuns = runs.filter((item) => item.key.task === 'stats.build');
    expectStatisticsEqual(detail.total, expectedStatistics({ task: 'stats.build', subject: null, context: null }, taskRuns));
    expect(detail.total.runs).toBe(22);

    const newest = [...taskRuns].reverse().slice(0, 20);
    expect(detail.recent_runs).toHaveLength(20);
    const expectedRecent: RecentRun[] = newest.map((item) => ({
      work_request_id: item.request.id,
      subject: item.key.subject,
      context: item.key.context,
      attempt: 1,
      result: item.result,
      error_code: item.errorCode ?? null,
      worker_name: item.worker.name,
      duration_s: item.stats?.duration_ms !== undefined ? item.stats.duration_ms / 1000 : null,
      cpu_time_s: item.stats?.cpu_time_ms !== undefined ? item.stats.cpu_time_ms / 1000 : null,
      memory: item.stats?.memory ?? null,
      disk_space: item.stats?.disk_space ?? null,
      completed_at: item.request.completed_at!,
    }));
    expect(detail.recent_runs).toEqual(expectedRecent);
  });

  test('limit caps the keys and says so', async () => {
    const detail = await getOk<TaskStatisticsDetail>('/api/v1/statistics/tasks/stats.build?limit=2');
    expect(detail.keys.map((row) => label(keyOf(row)))).toEqual([label(D), label(A)]);
    expect(detail.keys_truncated).toBe(true);
    expect(detail.total.runs).toBe(22);
  });

  test('a task name with a slash, raw or encoded, and through the SDK', async () => {
    for (const path of ['/api/v1/statistics/tasks/ns/job', '/api/v1/statistics/tasks/ns%2Fjob']) {
      const detail = await getOk<TaskStatisticsDetail>(path);
      expect(detail.keys.map((row) => label(keyOf(row)))).toEqual([label(G)]);
      expectStatisticsEqual(detail.keys[0], expectedFor(G));
    }
    const viaSdk = await server.client(operatorToken).getTaskStatisticsFor('ns/job');
    expect(viaSdk.total.runs).toBe(1);
    expect(viaSdk.recent_runs).toHaveLength(1);
  });

  test('404 for a task without history, 400 for a name that cannot be a task name', async () => {
    const missing = await get<{ error: { code: string } }>('/api/v1/statistics/tasks/never.ran');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('not_found');
    const bad = await get<{ error: { issues: Array<{ path: string }> } }>('/api/v1/statistics/tasks/-bad');
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues.map((issue) => issue.path)).toEqual(['task_name']);
  });
});

describe('GET /api/v1/statistics/workers', () => {
  test('runs, failures, busy time and utilisation per worker over a known window; workers without runs are listed', async () => {
    // w4's only run moves out of the last hour, wherever it is counted: its history row, its queued increment, its
    // worker hour (whole hours, so the hour moves exactly with it).
    await server.sql(`update task_history set completed_at = completed_at - interval '2 hours' where worker_id = $1`, [w4.id]);
    await server.sql(`update task_key_increment set completed_at = completed_at - interval '2 hours' where worker_id = $1`, [w4.id]);
    await server.sql(`update worker_hour_statistics set hour = hour - interval '2 hours' where worker_id = $1`, [w4.id]);
    const windowS = 3600;
    const answer = await getOk<WorkerStatisticsList>('/api/v1/statistics/workers?window=1h');
    expect(answer.window_s).toBe(windowS);
    expect(Date.parse(answer.until) - Date.parse(answer.since)).toBe(windowS * 1000);
    expect(answer.workers.map((worker) => worker.name)).toEqual(['stats-w1', 'stats-w2', 'stats-w3', 'stats-w4']);
    for (const [worker, concurrency] of [[w1, 2], [w2, 1], [w3, 4], [w4, 1]] as Array<[SimWorker, number]>) {
      const mine = worker === w4 ? [] : runs.filter((item) => item.worker === worker);
      const busyS = mine.reduce((sum, item) => sum + busySeconds(item), 0);
      const row = answer.workers.find((entry) => entry.id === worker.id)!;
      expect({ ...row, busy_time_s: round(row.busy_time_s), utilisation: round(row.utilisation) }).toEqual({
        id: worker.id,
        name: worker.name,
        state: 'idle',
        concurrency,
        runs: mine.length,
        failures: mine.filter((item) => item.result === 'failure' || item.result === 'error').length,
        busy_time_s: round(busyS),
        utilisation: round(busyS / (windowS * concurrency)),
      });
    }
    // D's run had no runtime statistics: it counts completed − started.
    expect(runs.find((item) => sameKey(item.key, D))!.worker).toBe(w2);

    const wider = await server.client(operatorToken).getWorkerStatistics('3h');
    const w4Row = wider.workers.find((entry) => entry.id === w4.id)!;
    expect(w4Row).toMatchObject({ runs: 1, failures: 0, busy_time_s: 4 });
    expect(w4Row.utilisation).toBeCloseTo(4 / (3 * 3600), 12);
  });

  test('window: seconds or units; default 24h; more than 90 days or nonsense is a 400 naming window', async () => {
    for (const [query, windowS] of [['', 86_400], ['?window=90s', 90], ['?window=15m', 900], ['?window=2h', 7200], ['?window=7d', 604_800], ['?window=3600', 3600], ['?window=90d', 7_776_000]] as const) {
      expect((await getOk<WorkerStatisticsList>(`/api/v1/statistics/workers${query}`)).window_s).toBe(windowS);
    }
    for (const window of ['91d', '0', 'abc', '-5', '5y']) {
      const answer = await get<{ error: { issues: Array<{ path: string }> } }>(`/api/v1/statistics/workers?window=${window}`);
      expect({ window, status: answer.status, paths: answer.body.error.issues.map((issue) => issue.path) }).toEqual({ window, status: 400, paths: ['window'] });
    }
  });
});

describe('access and bad input', () => {
  const ROUTES = ['/api/v1/statistics/tasks', '/api/v1/statistics/tasks/stats.build', '/api/v1/statistics/workers', '/api/v1/statistics/summary'];

  test.each(ROUTES)('%s: operator and admin tokens only (client 403, worker 403, none 401)', async (path) => {
    expect((await get(path, operatorToken)).status).toBe(200);
    expect((await get(path, server.adminToken)).status).toBe(200);
    const asClient = await get<{ error: { code: string } }>(path, server.clientToken);
    expect({ status: asClient.status, code: asClient.body.error.code }).toEqual({ status: 403, code: 'forbidden' });
    expect((await get(path, w1.token)).status).toBe(403);
    expect((await server.request('GET', path)).status).toBe(401);
  });

  test.each([
    ['limit=0', 'limit'],
    ['limit=501', 'limit'],
    ['limit=ten', 'limit'],
    ['sort=fastest', 'sort'],
    ['sort=-task_name', 'sort'],
    ['min_runs=-1', 'min_runs'],
    ['min_runs=1.5', 'min_runs'],
    ['task_name=', 'task_name'],
    ['task_name_prefix=', 'task_name_prefix'],
    ['sort=runs&sort=-runs', 'sort'],
  ])('GET /statistics/tasks?%s → 400 naming %s', async (query, parameter) => {
    const answer = await get<{ error: { code: string; message: string; issues: Array<{ path: string }> } }>(`/api/v1/statistics/tasks?${query}`);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('validation_failed');
    expect(answer.body.error.issues.map((issue) => issue.path)).toContain(parameter);
  });

  test('an unknown query parameter is a 400 that names it', async () => {
    const answer = await get<{ error: { message: string } }>('/api/v1/statistics/tasks?colour=blue');
    expect(answer.status).toBe(400);
    expect(answer.body.error.message).toContain('colour');
    expect((await get('/api/v1/statistics/tasks/stats.build?limit=0')).status).toBe(400);
    expect((await get('/api/v1/statistics/workers?windw=1h')).status).toBe(400);
  });
});

describe('GET /api/v1/statistics/summary', () => {
  // Last: it adds pending, unschedulable, running and aborted requests.
  test('work requests by status and result, unschedulable pending ones, workers by state', async () => {
    const pending = await server.createWorkRequest({ task_name: 'summary.run', max_attempts: 1 });
    const huge = await server.createWorkRequest({ task_name: 'summary.huge', resources: { memory: '1TiB' } });
    expect(huge.status).toBe('pending');
    const cancelled = await server.createWorkRequest({ task_name: 'summary.cancel' });
    const aborted = expectStatus(await server.request<WorkRequest>('POST', `/api/v1/work-requests/${cancelled.id}/cancel`, { token: server.clientToken }), 200, 'cancel').body;
    expect((await w3.claimOk({ max: 5 })).map((item) => item.id)).toEqual([pending.id]);

    // Throughput counts what ended in the last hour: one run ended two hours ago.
    const old = runs[0];
    await server.sql(`update work_request set completed_at = completed_at - interval '2 hours' where id = $1`, [old.request.id]);

    const summary = await server.client(operatorToken).getStatisticsSummary();
    const byResult = { success: 0, failure: 0, error: 0, skipped: 0 };
    for (const item of runs) byResult[item.result] += 1;
    if (aborted.result) byResult[aborted.result] += 1;
    const lastHour = { ...byResult, [old.result]: byResult[old.result] - 1 };
    expect(summary).toEqual<StatisticsSummary>({
      work_requests: {
        total: runs.length + 3,
        by_status: { blocked: 0, pending: 1, running: 1, completed: runs.length, aborted: 1 },
        by_result: byResult,
        unschedulable: 1,
      },
      workers: { total: 4, by_state: { idle: 3, busy: 1, offline: 0, disabled: 0 } },
      last_hour: { ended: runs.length, by_result: lastHour, aborted: 1, per_minute: Math.round((runs.length / 60) * 100) / 100 },
    });
    const workers = await getOk<WorkerStatisticsList>('/api/v1/statistics/workers');
    expect(workers.workers.find((worker) => worker.id === w3.id)).toMatchObject({ state: 'busy', runs: 0 });
  });
});

/** task_name, then subject, then context ('' for none sorts first), as the API orders them. */
function compareNames(a: Pick<TaskStatistics, 'task_name' | 'subject' | 'context'>, b: Pick<TaskStatistics, 'task_name' | 'subject' | 'context'>): number {
  const parts = (row: typeof a) => [row.task_name, row.subject ?? '', row.context ?? ''];
  const [x, y] = [parts(a), parts(b)];
  for (let index = 0; index < 3; index += 1) {
    if (x[index] !== y[index]) return x[index] < y[index] ? -1 : 1;
  }
  return 0;
}

/** The order `sort` must give, computed from our own runs; ties go by the key's first run (its task_key id). */
function expectedOrder(sort: TaskStatisticsSort): Key[] {
  const keys = allKeys();
  const rows = keys.map((key, firstRun) => ({ key, firstRun, stats: expectedFor(key) }));
  if (sort === 'task_name') return rows.map((row) => row.stats).sort(compareNames).map(keyOf);
  const descending = sort.startsWith('-');
  const value = (row: (typeof rows)[number]): number => {
    switch (sort.replace(/^-/, '')) {
      case 'runs':
        return row.stats.runs;
      case 'failures':
        return row.stats.failures;
      case 'success_rate':
        return row.stats.success_rate ?? 0;
      default:
        return Date.parse(row.stats.last_run_at!);
    }
  };
  rows.sort((a, b) => {
    const order = value(a) - value(b) || a.firstRun - b.firstRun;
    return descending ? -order : order;
  });
  return rows.map((row) => row.key);
}

function busySeconds(item: Run): number {
  if (item.stats?.duration_ms !== undefined) return item.stats.duration_ms / 1000;
  return (Date.parse(item.request.completed_at!) - Date.parse(item.request.started_at!)) / 1000;
}

function round(value: number): number {
  return Number(value.toFixed(9));
}
