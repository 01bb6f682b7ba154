/**
 * Workflow cancels racing the results of their running tasks (single reports, failures, batches, heartbeats,
 * in every order): no answer is a 5xx, every workflow ends CANCELED with nothing left to run, each run is
 * booked in its run's ledger exactly once whether its report came before or after the cancel, and PostgreSQL
 * broke no deadlock on the way.
 */
import type { Workflow } from '../../protocol/workflow';
import { expectStatus, sleep, startTestServer, type ApiResponse, type SimWorker, type TestServer } from '../helpers/server';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

const WORKFLOWS = 12;
const INDEPENDENT = ['a1', 'a2', 'a3'];

const deadlocks = async () => {
  await server.sql('select pg_stat_clear_snapshot()');
  return Number((await server.sql<{ deadlocks: string }>('select deadlocks from pg_stat_database where datname = current_database()'))[0].deadlocks);
};

function workflowBody(id: string) {
  const step = (taskId: string, dependsOn: string[] = []) => ({
    task_id: taskId,
    task_name: `race-${taskId}`,
    execution: { executable: '/bin/true', args: [] },
    max_attempts: 1,
    ...(dependsOn.length > 0 ? { depends_on: dependsOn } : {}),
  });
  return { workflow_id: id, tasks: [...INDEPENDENT.map((taskId) => step(taskId)), step('b', ['a1'])] };
}

test(`${WORKFLOWS} workflow cancels racing their tasks' results: no 5xx, all CANCELED, each run booked once`, async () => {
  const deadlocksBefore = await deadlocks();
  const workers = [await server.registerWorker({ concurrency: 50, costPerHour: 3.6 }), await server.registerWorker({ concurrency: 50, costPerHour: 3.6 })];
  const ids = Array.from({ length: WORKFLOWS }, (_, index) => `race-${index}`);
  for (const id of ids) expectStatus(await server.request('POST', '/api/v1/workflows', { token: server.adminToken, body: workflowBody(id) }), 201, `create ${id}`);
  const claimedBy = new Map<number, SimWorker>();
  for (const worker of workers) for (const request of await worker.claimOk({ max: 50 })) claimedBy.set(request.id, worker);
  expect(claimedBy.size).toBe(WORKFLOWS * INDEPENDENT.length);
  const tasks = await server.sql<{ id: string; workflow_id: string; task_id: string }>(`select id, workflow_id, task_id from work_request where status = 'running' order by id`);

  const answers: Array<{ what: string; response: ApiResponse }> = [];
  const record = (what: string) => (response: ApiResponse) => answers.push({ what, response });
  const report = { output_data: { runtime_statistics: { duration_ms: 1_000 } } };
  const races = ids.map(async (workflowId, index) => {
    const mine = tasks.filter((task) => task.workflow_id === workflowId);
    const byTask = (taskId: string) => Number(mine.find((task) => task.task_id === taskId)!.id);
    const [a1, a2, a3] = INDEPENDENT.map(byTask);
    const worker = (id: number) => claimedBy.get(id)!;
    const moves = [
      () => server.request('POST', `/api/v1/workflows/${workflowId}/cancel`, { token: server.adminToken }).then(record(`cancel ${workflowId}`)),
      () => worker(a1).complete(a1, { result: 'success', ...report }).then(record(`success #${a1}`)),
      () => worker(a2).complete(a2, { result: 'failure', ...report }).then(record(`failure #${a2}`)),
      // A batch of the worker that runs a3, in descending id order, with a repeat of a2 when it runs there too.
      () => worker(a3).call('POST', '/api/v1/workers/complete', {
        results: [a3, ...(worker(a2) === worker(a3) ? [a2] : [])].sort((x, y) => y - x).map((id) => ({ id, result: id === a3 ? 'success' : 'failure', ...report })),
      }).then(record(`batch #${a3}`)),
      () => worker(a3).heartbeat([a1, a2, a3].filter((id) => worker(id) === worker(a3))).then(record(`heartbeat ${worker(a3).name}`)),
    ];
    // Every workflow its own order: the cancel first, last or between the results.
    const order = moves.map((move, position) => ({ move, key: (position * 7 + index * 3) % moves.length }));
    order.sort((x, y) => x.key - y.key);
    await Promise.all(order.map(async ({ move }, position) => {
      await sleep(position * (index % 3));
      await move();
    }));
  });
  await Promise.all(races);

  const failed = answers.filter(({ response }) => response.status >= 500).map(({ what, response }) => `${what}: ${response.status} ${response.text}`);
  expect(failed).toEqual([]);
  for (const { what, response } of answers) {
    // A result on an aborted (cancelled) request is a 200 that books the killed run; batch items likewise.
    expect({ what, status: response.status }).toEqual({ what, status: 200 });
    const items = (response.body as { results?: Array<{ status: number }> }).results;
    if (items) expect({ what, items: items.map((item) => item.status) }).toEqual({ what, items: items.map(() => 200) });
  }
  for (const id of ids) {
    const workflow = expectStatus(await server.request<Workflow>('GET', `/api/v1/workflows/${id}`, { token: server.adminToken }), 200, `GET ${id}`).body;
    expect({ id, status: workflow.status }).toEqual({ id, status: 'CANCELED' });
  }
  expect(await server.sql(`select status, count(*)::int as n from work_request where status not in ('completed', 'aborted') group by status`)).toEqual([]);
  // Each of the 3 runs of a workflow is in its ledger once, however its report and the cancel interleaved.
  const booked = await server.sql<{ workflow_id: string; tasks: string }>(`select workflow_id, sum(tasks)::int as tasks from workflow_worker group by workflow_id order by workflow_id`);
  expect(booked).toEqual([...ids].sort().map((id) => ({ workflow_id: id, tasks: INDEPENDENT.length })));
  expect((await deadlocks()) - deadlocksBefore).toBe(0);
});
