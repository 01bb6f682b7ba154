/**
 * Runs over HTTP with simulated workers that report their measured durations: each attempt's cost, the run's
 * cost and its per-worker rows, the task key's cost, max cost per result stopping an expensive worker after
 * its warm-up, a budget that keeps a run's tasks pending with a reason (the claim refuses them), and the run's
 * spend over time against its budget.
 */
import type { RunSpend, RunWorkers } from '../../protocol/runs';
import type { TaskStatisticsList } from '../../protocol/statistics';
import type { Workflow, WorkflowWithTasks } from '../../protocol/workflow';
import type { WorkRequest } from '../../protocol/workRequest';
import { expectStatus, startTestServer, uniqueTaskName, type OrError, type SimWorker, type TestServer } from '../helpers/server';
import { pollUntil } from '../helpers/waitFor';
import { claimPickingQuery } from '../../server/sql/claim';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

let runs = 0;
const newRunId = () => `run-${process.pid}-${(runs += 1)}`;

const createRun = async (body: Record<string, unknown>) =>
  expectStatus(await server.request<OrError<WorkflowWithTasks>>('POST', '/api/v1/workflows', { token: server.clientToken, body: { open: true, ...body } }), 201, 'create run').body;
const getRun = async (runId: string) => expectStatus(await server.request<Workflow>('GET', `/api/v1/workflows/${runId}`, { token: server.clientToken }), 200, 'get run').body;
const runWorkers = async (runId: string) =>
  expectStatus(await server.request<RunWorkers>('GET', `/api/v1/workflows/${runId}/workers`, { token: server.clientToken }), 200, 'run workers').body.workers;

/** Tasks only workers with the tag `taskName` take: each test's workers run its own tasks only. */
const tasks = (taskName: string, from: number, count: number) =>
  Array.from({ length: count }, (_, index) => ({
    task_id: `t${from + index}`,
    task_name: taskName,
    execution: { executable: '/bin/true' },
    resources: { tags: [taskName] },
  }));

/** Claims one task and reports it done after `durationMs` of measured work (and `resultCount` results, if given). */
async function runOne(worker: SimWorker, durationMs: number, resultCount?: number): Promise<WorkRequest | null> {
  const [item] = await worker.claimOk({ max: 1 });
  if (!item) return null;
  const output_data = { runtime_statistics: { duration_ms: durationMs }, ...(resultCount !== undefined ? { result_count: resultCount } : {}) };
  return expectStatus(await worker.complete(item.id, { result: 'success', output_data }), 200, 'complete').body;
}

test('each attempt costs cost_per_hour × duration; the run, its workers and the task key sum them', async () => {
  const taskName = uniqueTaskName('costed');
  const runId = newRunId();
  const worker = await server.registerWorker({ costPerHour: 3.6, tags: [taskName] });
  await createRun({ workflow_id: runId, tasks: tasks(taskName, 0, 3) });
  const done = [await runOne(worker, 1000), await runOne(worker, 2500), await runOne(worker, 500, 4)];
  expect(done.map((row) => row?.id)).toEqual([expect.any(Number), expect.any(Number), expect.any(Number)]);
  const costs = await Promise.all(done.map(async (row) => (await server.getWorkRequest((row as WorkRequest).id)).cost));
  expect(costs[0]).toBeCloseTo(0.001, 10);
  expect(costs[1]).toBeCloseTo(0.0025, 10);
  expect(costs[2]).toBeCloseTo(0.0005, 10);

  expect((await getRun(runId)).cost).toBeCloseTo(0.004, 10);
  const rows = await runWorkers(runId);
  expect(rows).toEqual([
    expect.objectContaining({ worker: worker.name, status: 'ready', tasks: 3, running: 0, results: 1 + 1 + 4, stop_reason: null }),
  ]);
  expect(rows[0].cost).toBeCloseTo(0.004, 10);
  expect(rows[0].cost_per_result).toBeCloseTo(0.004 / 6, 10);

  await server.runHousekeeping();
  const stats = expectStatus(
    await server.request<TaskStatisticsList>('GET', `/api/v1/statistics/tasks?task_name=${taskName}`, { token: server.adminToken }),
    200,
    'statistics',
  ).body;
  expect(stats.tasks[0].cost).toBeCloseTo(0.004, 10);
});

test('a worker over max cost per result after its warm-up gets no more of the run; the cheap one carries on', async () => {
  const taskName = uniqueTaskName('priced');
  const runId = newRunId();
  const cheap = await server.registerWorker({ costPerHour: 1, tags: [taskName] });
  const dear = await server.registerWorker({ costPerHour: 36, tags: [taskName] });
  await createRun({ workflow_id: runId, max_cost_per_result: 0.001, max_price_warmup: 2, tasks: tasks(taskName, 0, 10) });
  // 1 s of work: 0.01 a result on the dear worker, 0.00028 on the cheap one. The warm-up is 2 s of work.
  expect(await runOne(dear, 1000)).not.toBeNull();
  expect((await runWorkers(runId)).find((row) => row.worker === dear.name)?.stop_reason).toBeNull();
  expect(await runOne(dear, 1000)).not.toBeNull();
  const stopped = (await runWorkers(runId)).find((row) => row.worker === dear.name);
  expect(stopped).toEqual(expect.objectContaining({ status: 'stopped', stop_reason: 'too expensive: 0.01/result > 0.001' }));
  expect(await dear.claimOk({ max: 1 })).toEqual([]);
  for (let index = 0; index < 3; index += 1) expect(await runOne(cheap, 1000)).not.toBeNull();
  expect((await runWorkers(runId)).find((row) => row.worker === cheap.name)).toEqual(expect.objectContaining({ status: 'ready', tasks: 3, stop_reason: null }));
});

test('over its budget a run keeps its tasks pending with the reason; on_budget stop cancels it', async () => {
  const taskName = uniqueTaskName('budgeted');
  const runId = newRunId();
  const worker = await server.registerWorker({ costPerHour: 3600, tags: [taskName, `${taskName}-stop`] });
  await createRun({ workflow_id: runId, budget: '3/h', tasks: tasks(taskName, 0, 5) });
  // 1 s on this worker costs 1: three tasks spend the budget.
  for (let index = 0; index < 3; index += 1) expect(await runOne(worker, 1000)).not.toBeNull();
  expect(await worker.claimOk({ max: 1 })).toEqual([]);
  const run = await getRun(runId);
  expect(run.budget_spent).toBeCloseTo(3, 6);
  expect(run.budget_reason).toMatch(/^budget 3\/h: spent 3 in the last hour(, next task ~[\d.]+)?; frees up at \d{4}-\d\d-\d\dT/);
  const pending = expectStatus(await server.request<{ work_requests: WorkRequest[] }>('GET', `/api/v1/work-requests?workflow=${runId}&status=pending`, { token: server.clientToken }), 200, 'list').body;
  expect(pending.work_requests).toHaveLength(2);
  for (const row of pending.work_requests) expect(row.state_reason).toBe(run.budget_reason);

  const stopId = newRunId();
  await createRun({ workflow_id: stopId, budget: '2/h', on_budget: 'stop', tasks: tasks(`${taskName}-stop`, 0, 5) });
  for (let index = 0; index < 2; index += 1) expect(await runOne(worker, 1000)).not.toBeNull();
  const cancelled = await getRun(stopId);
  expect(cancelled.status).toBe('CANCELED');
  expect(cancelled.status_reason).toBe('cancelled by budget 2/h (spent 2 in the last hour)');
});

const runSpend = async (runId: string, window: string) =>
  expectStatus(await server.request<RunSpend>('GET', `/api/v1/workflows/${runId}/spend?window=${window}`, { token: server.clientToken }), 200, 'run spend').body;
const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);

test("a run's spend over time: what each step's attempts cost, and the spend over the budget's trailing hour at each step's end", async () => {
  const taskName = uniqueTaskName('spend');
  const runId = newRunId();
  const worker = await server.registerWorker({ costPerHour: 3600, tags: [taskName] });
  await createRun({ workflow_id: runId, budget: '5/h', tasks: tasks(taskName, 0, 3) });
  // 1 s on this worker costs 1. Two attempts, then their ledger bucket moved 90 minutes back (as if they had
  // completed then), then one more now.
  for (let index = 0; index < 2; index += 1) expect(await runOne(worker, 1000)).not.toBeNull();
  await server.sql(`update workflow_spend set bucket_start = bucket_start - interval '90 minutes' where workflow_id = $1`, [runId]);
  expect(await runOne(worker, 1000)).not.toBeNull();

  const day = await runSpend(runId, '6h');
  expect(day).toMatchObject({ workflow_id: runId, budget: '5/h', budget_limit: 5, budget_window_s: 3600, window: '6h', step_s: 300 });
  expect(day.steps).toHaveLength(72);
  const starts = day.steps.map((step) => Date.parse(step.start));
  expect(starts.every((start, index) => start % 300_000 === 0 && (index === 0 || start - starts[index - 1] === 300_000))).toBe(true);
  expect(starts[71]).toBeLessThanOrEqual(Date.now());
  expect(Date.now() - starts[71]).toBeLessThan(300_000 + 5_000);
  expect(sum(day.steps.map((step) => step.cost))).toBeCloseTo(3, 6);
  expect(day.steps[71].cost).toBeCloseTo(1, 6);
  // The step the two earlier attempts fall in: their 2 are the trailing hour's spend at its end; 90 minutes
  // later they have left the budget's window, so the spend now is the last attempt's 1, as the run says.
  const earlier = day.steps.findIndex((step) => step.cost > 1.5);
  expect(earlier).toBeGreaterThanOrEqual(71 - 19);
  expect(earlier).toBeLessThanOrEqual(71 - 17);
  expect(day.steps[earlier].window_spend).toBeCloseTo(2, 6);
  expect(day.steps.slice(0, earlier).every((step) => step.window_spend === 0)).toBe(true);
  expect(day.steps[71].window_spend).toBeCloseTo(1, 6);
  expect((await getRun(runId)).budget_spent).toBeCloseTo(1, 6);

  const hour = await runSpend(runId, '1h');
  expect({ steps: hour.steps.length, step_s: hour.step_s }).toEqual({ steps: 60, step_s: 60 });
  expect(sum(hour.steps.map((step) => step.cost))).toBeCloseTo(1, 6);
  // The ledger of an "X/h" budget has buckets of a minute: no step shorter than that.
  expect((await runSpend(runId, '10m')).step_s).toBe(60);
  expect((await runSpend(runId, '10m')).steps).toHaveLength(10);
});

test("a run without a budget has its spend over time and no budget line; a bad window is 400, an unknown run 404", async () => {
  const taskName = uniqueTaskName('unbudgeted');
  const runId = newRunId();
  const worker = await server.registerWorker({ costPerHour: 36, tags: [taskName] });
  await createRun({ workflow_id: runId, tasks: tasks(taskName, 0, 1) });
  expect(await runOne(worker, 1000)).not.toBeNull();
  const spend = await runSpend(runId, '1h');
  expect(spend).toMatchObject({ budget: null, budget_limit: null, budget_window_s: null, step_s: 60 });
  expect(sum(spend.steps.map((step) => step.cost))).toBeCloseTo(0.01, 8);
  expect(spend.steps.every((step) => step.window_spend === null)).toBe(true);
  const minute = await createRun({ workflow_id: newRunId(), budget: '1/min', tasks: [] });
  expect(await runSpend(minute.workflow_id, '10m')).toMatchObject({ budget_limit: 1, budget_window_s: 60, step_s: 10, steps: expect.arrayContaining([{ start: expect.any(String), cost: 0, window_spend: 0 }]) });

  const bad = await server.request<OrError<unknown>>('GET', `/api/v1/workflows/${runId}/spend?window=2h`, { token: server.clientToken });
  expect(bad.status).toBe(400);
  expect(bad.body.error?.issues?.map((issue) => issue.path)).toEqual(['window']);
  expect((await server.request('GET', '/api/v1/workflows/no-such-run/spend', { token: server.clientToken })).status).toBe(404);
});

test('a burst of claims against a tight budget: reservations let exactly the budget through, and the run is held at once', async () => {
  const taskName = uniqueTaskName('burst');
  // History first: the key's tasks take 1 s, so on these workers (3600/h) each is expected to cost 1.
  const learner = await server.registerWorker({ costPerHour: 3600, tags: [taskName] });
  await createRun({ workflow_id: newRunId(), tasks: tasks(taskName, 0, 2) });
  for (let index = 0; index < 2; index += 1) expect(await runOne(learner, 1000)).not.toBeNull();
  await server.runHousekeeping();

  const runId = newRunId();
  await createRun({ workflow_id: runId, budget: '3/h', tasks: tasks(taskName, 100, 30) });
  const workers = await Promise.all(Array.from({ length: 12 }, () => server.registerWorker({ costPerHour: 3600, tags: [taskName], concurrency: 2 })));
  // All at once, two slots each: before any completion or housekeeping, the reservations alone must stop the run at 3.
  const claims = await Promise.all(workers.map(async (worker) => (await worker.claimOk({ max: 2 })).map((item) => ({ worker, item }))));
  const claimed = claims.flat();
  expect(claimed.map(({ item }) => item.id)).toHaveLength(3);
  const running = await server.sql<{ n: string; reserved: number }>(
    `select count(*) as n, sum(expected_cost) as reserved from work_request where workflow_id = $1 and status = 'running'`,
    [runId],
  );
  expect(Number(running[0].n)).toBe(3);
  expect(running[0].reserved).toBeCloseTo(3, 6);
  // The claim that filled the budget had the run paused (no housekeeping tick): its pending rows held, with the reason.
  const paused = await pollUntil(async () => {
    const run = await getRun(runId);
    return run.budget_reason !== null ? run : null;
  }, { timeoutMs: 10_000, description: 'the run paused after the burst' });
  expect(paused.budget_reason).toMatch(/^budget 3\/h: spent 3 in the last hour, next task ~[\d.]+; frees up as its running tasks end$/);
  const held = await server.sql<{ held: string; free: string }>(
    `select count(*) filter (where budget_held) as held, count(*) filter (where not budget_held) as free from work_request where workflow_id = $1 and status = 'pending'`,
    [runId],
  );
  expect([Number(held[0].held), Number(held[0].free)]).toEqual([27, 0]);
  expect((await Promise.all(workers.map((worker) => worker.claimOk({ max: 2 })))).flat()).toEqual([]);
  // The three end at their expected cost: the spend is the budget, the run stays held.
  for (const { worker, item } of claimed) {
    expectStatus(await worker.complete(item.id, { result: 'success', output_data: { runtime_statistics: { duration_ms: 1000 } } }), 200, 'complete');
  }
  const after = await getRun(runId);
  expect(after.budget_spent).toBeCloseTo(3, 6);
  expect(after.budget_reason).toMatch(/^budget 3\/h: spent 3 in the last hour, next task ~[\d.]+; frees up at \d{4}-/);
  expect((await Promise.all(workers.map((worker) => worker.claimOk({ max: 2 })))).flat()).toEqual([]);
});

test("the claim sums a budgeted run's ledger window once per task it looks at", async () => {
  const taskName = uniqueTaskName('once');
  const worker = await server.registerWorker({ costPerHour: 3.6, tags: [taskName] });
  const runId = newRunId();
  await createRun({ workflow_id: runId, budget: '10/h', tasks: tasks(taskName, 0, 2) });
  // The plan of the picking query: each scan of workflow_spend in it is one sum of the window per row looked at.
  const plan = await server.sql<{ 'QUERY PLAN': string }>(`explain (costs off) ${claimPickingQuery(worker.id, 1).text}`);
  const spendScans = plan.filter((row) => / on workflow_spend( |$)/.test(row['QUERY PLAN']));
  expect(spendScans).toHaveLength(1);
  // And the spend check still passes the run's task under its budget.
  const [item] = await worker.claimOk({ max: 1 });
  expect(item?.task_name).toBe(taskName);
});
