/**
 * The chart series for the dashboard over real HTTP on a real database: GET /statistics/timeline (completions
 * per bucket by result, queue wait of the requests started in each bucket, running ones included) and
 * GET /statistics/runs (a key's newest runs, the percentiles of its successful runs, the requirements the
 * scheduler would learn); the list filter unschedulable; roles and bad input. Figures are checked against the
 * rows themselves and against percentiles computed here.
 */
import type { RuntimeStatistics } from '../../protocol/outputData';
import type { TaskRuns, Timeline } from '../../protocol/statisticsSeries';
import type { WorkRequest, WorkRequestList, WorkRequestResult } from '../../protocol/workRequest';
import { expectStatus, GiB, startTestServer, type SimWorker, type TestServer } from '../helpers/server';

const MB = 100_000_000;

let server: TestServer;
let operatorToken: string;
let worker: SimWorker;

beforeAll(async () => {
  server = await startTestServer();
  operatorToken = expectStatus(
    await server.request<{ token: string }>('POST', '/api/v1/tokens', { token: server.adminToken, body: { role: 'operator', name: 'series' } }),
    201,
    'operator token',
  ).body.token;
  worker = await server.registerWorker({ name: 'series-w1', totalMemory: 8 * GiB });
});

afterAll(async () => {
  await server?.close();
});

const get = <T>(path: string, token = operatorToken) => server.request<T>('GET', path, { token });
const getOk = async <T>(path: string): Promise<T> => expectStatus(await get<T>(path), 200, `GET ${path}`).body;

async function run(spec: { task_name: string; subject?: string }, result: WorkRequestResult, stats?: RuntimeStatistics, by = worker): Promise<WorkRequest> {
  const created = await server.createWorkRequest({ ...spec, max_attempts: 1 });
  const claimed = await by.claimOk({ max: 1 });
  expect(claimed.map((item) => item.id)).toEqual([created.id]);
  return expectStatus(await by.complete(created.id, { result, output_data: stats ? { runtime_statistics: stats } : {} }), 200, 'complete').body;
}

const figures = (durationMs: number, cpuMs: number, memory: number, disk: number): RuntimeStatistics => ({
  duration: Math.round(durationMs / 1000),
  cpu_time: Math.round(cpuMs / 1000),
  duration_ms: durationMs,
  cpu_time_ms: cpuMs,
  memory,
  disk_space: disk,
});

function percentileCont(values: number[], fraction: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = fraction * (sorted.length - 1);
  return sorted[Math.floor(rank)] + (sorted[Math.ceil(rank)] - sorted[Math.floor(rank)]) * (rank - Math.floor(rank));
}

describe('GET /statistics/runs', () => {
  const task = 'series.build';
  const successes = [figures(1000, 800, 2 * MB, 1 * MB), figures(3000, 2500, 4 * MB, 3 * MB), figures(2000, 1500, 3 * MB, 2 * MB), figures(5000, 4000, 6 * MB, 5 * MB)];
  const made: WorkRequest[] = [];

  beforeAll(async () => {
    for (const stats of successes.slice(0, 2)) made.push(await run({ task_name: task, subject: 's1' }, 'success', stats));
    made.push(await run({ task_name: task, subject: 's1' }, 'failure', figures(9000, 9000, 50 * MB, 50 * MB)));
    for (const stats of successes.slice(2)) made.push(await run({ task_name: task, subject: 's1' }, 'success', stats));
    made.push(await run({ task_name: task, subject: 's2' }, 'success', figures(100, 100, 1 * MB, 1 * MB)));
  });

  test("a key's runs come newest first with their figures; percentiles are over its successful runs only", async () => {
    const answer = await getOk<TaskRuns>(`/api/v1/statistics/runs?task_name=${task}&subject=s1`);
    const ofKey = made.filter((request) => request.subject === 's1');
    expect(answer.runs.map((item) => item.work_request_id)).toEqual(ofKey.map((request) => request.id).reverse());
    expect(answer.runs.map((item) => item.result)).toEqual(['success', 'success', 'failure', 'success', 'success']);
    expect(answer.runs[2]).toMatchObject({ duration_s: 9, cpu_time_s: 9, memory: 50 * MB, disk_space: 50 * MB, subject: 's1', context: null });
    const of = (pick: (stats: RuntimeStatistics) => number) => successes.map(pick);
    expect(answer.success_percentiles).toEqual({
      sampled_runs: 4,
      duration_s: { p50: percentileCont(of((s) => s.duration_ms!), 0.5)! / 1000, p95: percentileCont(of((s) => s.duration_ms!), 0.95)! / 1000 },
      cpu_time_s: { p50: percentileCont(of((s) => s.cpu_time_ms!), 0.5)! / 1000, p95: percentileCont(of((s) => s.cpu_time_ms!), 0.95)! / 1000 },
      memory: { p50: Math.round(percentileCont(of((s) => s.memory!), 0.5)!), p95: Math.round(percentileCont(of((s) => s.memory!), 0.95)!) },
      disk_space: { p50: Math.round(percentileCont(of((s) => s.disk_space!), 0.5)!), p95: Math.round(percentileCont(of((s) => s.disk_space!), 0.95)!) },
    });
  });

  test('the learned requirements are the ones a new request of the key gets', async () => {
    const answer = await getOk<TaskRuns>(`/api/v1/statistics/runs?task_name=${task}&subject=s1`);
    const created = await server.createWorkRequest({ task_name: task, subject: 's1' });
    expect(answer.learned_requirements.map((item) => item.resource)).toContain('memory');
    expect(answer.learned_requirements).toEqual(created.learned_requirements);
    expectStatus(await server.request('POST', `/api/v1/work-requests/${created.id}/cancel`, { token: server.clientToken }), 200, 'cancel');
  });

  test('without subject every subject counts; limit keeps the newest; an empty subject means none', async () => {
    const all = await getOk<TaskRuns>(`/api/v1/statistics/runs?task_name=${task}`);
    expect(all.runs.map((item) => item.work_request_id)).toEqual(made.map((request) => request.id).reverse());
    expect(all.subject).toBeNull();
    const newest = await getOk<TaskRuns>(`/api/v1/statistics/runs?task_name=${task}&limit=2`);
    expect(newest.runs.map((item) => item.work_request_id)).toEqual(made.slice(-2).map((request) => request.id).reverse());
    const none = await getOk<TaskRuns>(`/api/v1/statistics/runs?task_name=${task}&subject=`);
    expect(none).toMatchObject({ subject: '', runs: [], success_percentiles: { sampled_runs: 0, memory: { p50: null, p95: null } } });
  });

  test('bad input is a 400 naming the field; a client token is refused', async () => {
    for (const [query, path] of [['task_name=x&limit=1001', 'limit'], ['limit=5', 'task_name'], ['task_name=x&colour=red', '']] as const) {
      const answer = await get<{ error: { issues: Array<{ path: string }> } }>(`/api/v1/statistics/runs?${query}`);
      expect({ query, status: answer.status }).toEqual({ query, status: 400 });
      if (path) expect(answer.body.error.issues.map((issue) => issue.path)).toContain(path);
    }
    expect((await get(`/api/v1/statistics/runs?task_name=${task}`, server.clientToken)).status).toBe(403);
  });
});

describe('GET /statistics/timeline', () => {
  test('completions by result and queue wait per minute bucket match the rows; running requests count in the wait', async () => {
    const task = 'series.timeline';
    const done = [await run({ task_name: task }, 'success'), await run({ task_name: task }, 'failure'), await run({ task_name: task }, 'success')];
    const aborted = await server.createWorkRequest({ task_name: task });
    expectStatus(await server.request('POST', `/api/v1/work-requests/${aborted.id}/cancel`, { token: server.clientToken }), 200, 'cancel');
    const running = await server.createWorkRequest({ task_name: task });
    expect((await worker.claimOk({ max: 1 })).map((item) => item.id)).toEqual([running.id]);
    // Spread them over the hour with known waits: 5 s, 20 s, 65 s, and 7 s for the running one.
    await server.sql(
      `update work_request set created_at = now() - v.ago - v.wait, started_at = now() - v.ago, completed_at = case when status = 'running' then null else now() - v.ago + interval '1 second' end
       from (values ($1::bigint, interval '40 minutes', interval '5 seconds'), ($2, interval '40 minutes', interval '20 seconds'),
                    ($3, interval '10 minutes', interval '65 seconds'), ($4, interval '3 minutes', interval '7 seconds')) as v(id, ago, wait)
       where work_request.id = v.id`,
      [done[0].id, done[1].id, done[2].id, running.id],
    );
    // Microseconds matter for the waits: PostgreSQL computes them, not JavaScript Dates (milliseconds).
    const rows = await server.sql<{ status: string; result: string | null; started_s: number | null; completed_s: number | null; wait_s: number | null }>(
      `select status, result, extract(epoch from started_at)::float8 as started_s, extract(epoch from completed_at)::float8 as completed_s,
         extract(epoch from started_at - created_at)::float8 as wait_s
       from work_request`,
    );
    const answer = await getOk<Timeline>('/api/v1/statistics/timeline?window=1h');
    expect(answer).toMatchObject({ window_s: 3600, bucket_s: 60 });
    expect(answer.buckets).toHaveLength(60);
    expect(Date.parse(answer.until) - Date.parse(answer.since)).toBe(3600 * 1000);
    expect(Date.parse(answer.since) % 60_000).toBe(0);

    const minute = (epochS: number) => new Date(Math.floor(epochS / 60) * 60_000).toISOString();
    const expected = new Map<string, { completed: Record<string, number>; waits: number[] }>();
    const at = (time: number) => {
      const key = minute(time);
      if (!expected.has(key)) expected.set(key, { completed: { success: 0, failure: 0, error: 0, skipped: 0, aborted: 0 }, waits: [] });
      return expected.get(key)!;
    };
    const since = Date.parse(answer.since) / 1000;
    for (const row of rows) {
      if (row.completed_s !== null && row.completed_s >= since) at(row.completed_s).completed[row.status === 'aborted' ? 'aborted' : row.result!] += 1;
      if (row.started_s !== null && row.started_s >= since) at(row.started_s).waits.push(row.wait_s!);
    }
    for (const bucket of answer.buckets) {
      const want = expected.get(bucket.start) ?? { completed: { success: 0, failure: 0, error: 0, skipped: 0, aborted: 0 }, waits: [] };
      const wait = bucket.queue_wait_s;
      expect({ start: bucket.start, completed: bucket.completed, count: wait.count }).toEqual({ start: bucket.start, completed: want.completed, count: want.waits.length });
      if (want.waits.length) {
        expect(wait.p50).toBeCloseTo(percentileCont(want.waits, 0.5)!, 3);
        expect(wait.p95).toBeCloseTo(percentileCont(want.waits, 0.95)!, 3);
        expect(wait.max).toBeCloseTo(Math.max(...want.waits), 3);
      } else {
        expect(wait).toEqual({ count: 0, p50: null, p95: null, max: null });
      }
    }
    const waits = answer.buckets.flatMap((bucket) => (bucket.queue_wait_s.max === null ? [] : [Math.round(bucket.queue_wait_s.max)]));
    expect(waits).toEqual(expect.arrayContaining([20, 65, 7]));
    const total = answer.buckets.reduce((sum, bucket) => sum + Object.values(bucket.completed).reduce((a, b) => a + b, 0), 0);
    expect(total).toBe(rows.filter((row) => row.completed_s !== null && row.completed_s >= since).length);
  });

  test('finished buckets come from a cache (for a minute), the current and newly finished ones are read each time', async () => {
    const task = 'series.timeline.cache';
    const path = '/api/v1/statistics/timeline?window=2m&bucket=10s';
    // The first test left the first worker a running request.
    const free = await server.registerWorker({ name: 'series-w2', totalMemory: 8 * GiB });
    // Completions per bucket start, as the rows say.
    const fromRows = async (answer: Timeline) => {
      const rows = await server.sql<{ slot: string; count: string }>(
        `select floor(extract(epoch from completed_at) / 10)::bigint as slot, count(*) as count from work_request
         where completed_at >= $1 and completed_at < $2 group by 1`,
        [answer.since, answer.until],
      );
      return new Map(rows.map((row) => [new Date(Number(row.slot) * 10_000).toISOString(), Number(row.count)]));
    };
    const perBucket = (answer: Timeline) =>
      new Map(answer.buckets.flatMap((bucket) => {
        const count = Object.values(bucket.completed).reduce((a, b) => a + b, 0);
        return count > 0 ? [[bucket.start, count] as const] : [];
      }));
    await run({ task_name: task }, 'success', undefined, free);
    const first = await getOk<Timeline>(path);
    expect(perBucket(first)).toEqual(await fromRows(first));
    // Into the next bucket: the one that held the first run is finished now, and read once more (it was current).
    await new Promise((resolve) => setTimeout(resolve, 10_000 - (Date.now() % 10_000) + 200));
    await run({ task_name: task }, 'failure', undefined, free);
    const second = await getOk<Timeline>(path);
    expect(perBucket(second)).toEqual(await fromRows(second));
    await run({ task_name: task }, 'success', undefined, free);
    const third = await getOk<Timeline>(path);
    expect(third.since).toBe(second.since);
    expect(perBucket(third)).toEqual(await fromRows(third));
    // A row written into a finished bucket by hand shows only once the cache expires: proof the bucket was not read again.
    const backdated = await run({ task_name: task }, 'success', undefined, free);
    const finished = second.buckets[5].start;
    await server.sql(`update work_request set completed_at = $2::timestamptz + interval '1 second' where id = $1`, [backdated.id, finished]);
    const fourth = await getOk<Timeline>(path);
    expect((await fromRows(fourth)).get(finished)).toBe((perBucket(third).get(finished) ?? 0) + 1);
    expect(perBucket(fourth).get(finished)).toBe(perBucket(third).get(finished));
  }, 30_000);

  test('a day is 288 buckets of 5 minutes; a bucket may be chosen; too many or too small buckets are a 400 on bucket', async () => {
    const day = await getOk<Timeline>('/api/v1/statistics/timeline?window=24h');
    expect({ window: day.window_s, bucket: day.bucket_s, buckets: day.buckets.length }).toEqual({ window: 86_400, bucket: 300, buckets: 288 });
    expect((await getOk<Timeline>('/api/v1/statistics/timeline?window=2h&bucket=10m')).buckets).toHaveLength(12);
    for (const query of ['window=1h&bucket=5', 'window=30d&bucket=60', 'window=1h&bucket=soon']) {
      const answer = await get<{ error: { issues: Array<{ path: string }> } }>(`/api/v1/statistics/timeline?${query}`);
      expect({ query, status: answer.status, paths: answer.body.error.issues.map((issue) => issue.path) }).toEqual({ query, status: 400, paths: ['bucket'] });
    }
    expect((await get('/api/v1/statistics/timeline', server.clientToken)).status).toBe(403);
  });
});

test('GET /work-requests?unschedulable=true lists the pending requests no worker can run, with why', async () => {
  const task = 'series.huge';
  const huge = await server.createWorkRequest({ task_name: task, resources: { memory: '1TiB' } });
  const small = await server.createWorkRequest({ task_name: task });
  const stuck = await getOk<WorkRequestList>(`/api/v1/work-requests?task_name=${task}&unschedulable=true`);
  expect(stuck.work_requests.map((request) => request.id)).toEqual([huge.id]);
  expect(stuck.work_requests[0].state_reason).toMatch(/1(\.0)? TiB/);
  const others = await getOk<WorkRequestList>(`/api/v1/work-requests?task_name=${task}&unschedulable=false`);
  expect(others.work_requests.map((request) => request.id)).toEqual([small.id]);
  expect((await get(`/api/v1/work-requests?unschedulable=maybe`)).status).toBe(400);
});
