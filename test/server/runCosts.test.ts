/**
 * Runs over HTTP with simulated workers that report their measured durations: each attempt's cost, the run's
 * cost and its per-worker rows, the task key's cost, max cost per result stopping an expensive worker after
 * its warm-up, and a budget that keeps a run's tasks pending with a reason (the claim refuses them).
 */
import type { RunWorkers } from '../../protocol/runs';
import type { TaskStatisticsList } from '../../protocol/statistics';
import type { Workflow, WorkflowWithTasks } from '../../protocol/workflow';
import type { WorkRequest } from '../../protocol/workRequest';
import { expectStatus, startTestServer, uniqueTaskName, type OrError, type SimWorker, type TestServer } from '../helpers/server';

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
