/**
 * GET /metrics as Prometheus scrapes it: the live output passes the real `promtool check metrics` (Debian's
 * prometheus package; .ci/run installs it), and the task metrics count what happened: completions by result,
 * run time and queue wait by task name and result (task names capped, then "other"), running requests per
 * worker. No label carries a subject, a context or an id.
 */
import { spawn } from 'node:child_process';
import { expectStatus, startTestServer, type SimWorker, type TestServer } from '../helpers/server';

let server: TestServer;
let worker: SimWorker;

/** Three task names against a cap of two: the third is counted as "other". */
const TASKS = ['metrics-build', 'metrics-test', 'metrics-third'] as const;

beforeAll(async () => {
  server = await startTestServer({ metricsTaskNames: 2 });
  worker = await server.registerWorker({ name: 'metrics-worker', concurrency: 10 });
});

afterAll(async () => {
  await server?.close();
});

async function scrape(): Promise<string> {
  return expectStatus(await server.request('GET', '/metrics', { token: server.adminToken, headers: { accept: 'text/plain' } }), 200, 'metrics').text;
}

function promtool(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'ENOENT' ? new Error('promtool is not installed: apt-get install prometheus (.ci/run does)') : error),
    );
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(text);
  });
}

/** The value of the sample `name{labels}` (labels in any order), or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((pair) => [pair[1], pair[2]]));
    if (Object.keys(found).length === Object.keys(labels).length && Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return undefined;
}

test('the live output passes promtool check metrics, with the task metrics filled in', async () => {
  // build: two successes (one per-request report, one in a batch); test: one failure; third: one success, seen
  // after the other two names (the cap admits the first names it sees).
  const created = [];
  for (const [taskName, subject] of [[TASKS[0], 'pkg-a'], [TASKS[0], 'pkg-b'], [TASKS[1], 'pkg-c'], [TASKS[2], 'pkg-d']] as const) {
    created.push(await server.createWorkRequest({ task_name: taskName, subject, context: 'amd64' }));
  }
  const cancelled = await server.createWorkRequest({ task_name: TASKS[1] });
  const stillRunning = await server.createWorkRequest({ task_name: TASKS[1] });
  expect((await worker.claimOk({ max: 10 })).map((item) => item.id).sort((a, b) => a - b)).toEqual([...created, cancelled, stillRunning].map((row) => row.id));

  const success = (seconds: number) => ({ result: 'success' as const, output_data: { runtime_statistics: { duration: seconds, duration_ms: seconds * 1000 } } });
  expectStatus(await worker.complete(created[0].id, success(2)), 200, 'complete');
  expectStatus(await worker.complete(created[2].id, { result: 'failure', output_data: { errors: [{ code: 'exit_code', message: 'exit 1' }] } }), 200, 'fail');
  expectStatus(await worker.call('POST', '/api/v1/workers/complete', { results: [{ id: created[1].id, ...success(40) }, { id: created[3].id, ...success(1) }] }), 200, 'batch');
  // A repeated report changes nothing, and counts nothing twice.
  expectStatus(await worker.complete(created[0].id, success(2)), 200, 'repeat');
  expectStatus(await server.request('POST', `/api/v1/work-requests/${cancelled.id}/cancel`, { token: server.clientToken }), 200, 'cancel');

  const text = await scrape();
  const checked = await promtool(text);
  expect(checked).toEqual({ code: 0, output: '' });

  expect(sample(text, 'worksched_work_request_completions_total', { result: 'success' })).toBe(3);
  expect(sample(text, 'worksched_work_request_completions_total', { result: 'failure' })).toBe(1);
  expect(sample(text, 'worksched_work_request_completions_total', { result: 'aborted' })).toBe(1);

  const count = (taskName: string, result: string) => sample(text, 'worksched_task_duration_seconds_count', { task_name: taskName, result });
  expect(count(TASKS[0], 'success')).toBe(2);
  expect(count(TASKS[1], 'failure')).toBe(1);
  expect(count(TASKS[1], 'aborted')).toBe(1);
  // The third name is over the cap of two.
  expect(count(TASKS[2], 'success')).toBeUndefined();
  expect(count('other', 'success')).toBe(1);
  // 2 s and 40 s as the worker measured them: one in the le=5 bucket, both by le=60.
  expect(sample(text, 'worksched_task_duration_seconds_bucket', { task_name: TASKS[0], result: 'success', le: '5' })).toBe(1);
  expect(sample(text, 'worksched_task_duration_seconds_bucket', { task_name: TASKS[0], result: 'success', le: '60' })).toBe(2);
  expect(sample(text, 'worksched_task_duration_seconds_sum', { task_name: TASKS[0], result: 'success' })).toBeCloseTo(42, 3);
  expect(sample(text, 'worksched_queue_wait_seconds_count', { task_name: TASKS[0], result: 'success' })).toBe(2);
  expect(sample(text, 'worksched_queue_wait_seconds_sum', { task_name: TASKS[0], result: 'success' })).toBeLessThan(60);

  expect(sample(text, 'worksched_worker_running_work_requests', { worker: 'metrics-worker' })).toBe(1);

  // Bounded labels: no subject, context or id appears as a label value anywhere.
  // (The scheduler's own metrics: prom-client's process metrics carry version numbers.)
  const own = text.split('\n').filter((line) => /^worksched_(task|queue|work_request|worker|claim|http)/.test(line)).join('\n');
  const labels = [...own.matchAll(/[{,]([a-z_]+)="([^"]*)"/g)].filter((match) => match[1] !== 'le');
  expect([...new Set(labels.map((match) => match[1]))].sort()).toEqual(['method', 'result', 'route', 'state', 'status', 'task_name', 'worker']);
  const labelValues = new Set(labels.map((match) => match[2]));
  const forbidden = ['pkg-a', 'pkg-b', 'pkg-c', 'pkg-d', 'amd64', ...[...created, cancelled, stillRunning].map((row) => String(row.id))];
  expect(forbidden.filter((value) => labelValues.has(value))).toEqual([]);
});

test('prom-client\'s default process metrics stay, without the gauges named *_total that promtool rejects', async () => {
  const text = await scrape();
  expect(text).toMatch(/^# TYPE worksched_process_cpu_seconds_total counter$/m);
  expect(text).toMatch(/^# TYPE worksched_nodejs_active_handles gauge$/m);
  expect(text).not.toMatch(/^# TYPE \S+_total gauge$/m);
});
