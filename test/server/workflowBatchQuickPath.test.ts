/**
 * The quick path of batched workflow successes (server/workRequests/completeWorkflowBatch.ts): it takes the
 * dependants' locks (a completion waiting for one shows its statement), releases a child only once all its parents
 * succeeded, learns the child's requirements from history at that moment, books the run ledger, and leaves what
 * it does not take (a `from` parameter, the last tasks) to the full path with the same outcome.
 */
import type { Client } from 'pg';
import type { Workflow } from '../../protocol/workflow';
import { connectLockHolder, expectStatus, sleep, startTestServer, type SimWorker, type TestServer } from '../helpers/server';

let server: TestServer;
let holder: Client;

beforeAll(async () => {
  server = await startTestServer();
  holder = await connectLockHolder(server);
});

afterAll(async () => {
  await holder?.end();
  await server?.close();
});

const step = (taskId: string, taskName: string, dependsOn: string[] = [], extra: Record<string, unknown> = {}) => ({
  task_id: taskId,
  task_name: taskName,
  execution: { executable: '/bin/true', args: [] },
  max_attempts: 1,
  ...(dependsOn.length > 0 ? { depends_on: dependsOn } : {}),
  ...extra,
});

async function createWorkflow(id: string, tasks: unknown[]): Promise<void> {
  expectStatus(await server.request('POST', '/api/v1/workflows', { token: server.adminToken, body: { workflow_id: id, tasks } }), 201, `create ${id}`);
}

async function getWorkflow(id: string): Promise<Workflow> {
  return expectStatus(await server.request<Workflow>('GET', `/api/v1/workflows/${id}`, { token: server.adminToken }), 200, `get ${id}`).body;
}

function completeBatch(worker: SimWorker, results: Array<{ id: number; output_data?: object }>) {
  return worker.call<{ results: Array<{ id: number; status: number }> }>('POST', '/api/v1/workers/complete', {
    results: results.map(({ id, output_data }) => ({ id, result: 'success', output_data: output_data ?? {} })),
  });
}

async function taskIdsOf(ids: number[]): Promise<Map<string, number>> {
  const rows = await server.sql<{ id: string; task_id: string }>('select id, task_id from work_request where id = any($1::bigint[])', [ids]);
  return new Map(rows.map((row) => [row.task_id, Number(row.id)]));
}

async function statusOf(workflowId: string): Promise<Record<string, string>> {
  const rows = await server.sql<{ task_id: string; status: string }>(
    'select task_id, status from work_request where workflow_id = $1 and superseded_by_id is null order by task_id', [workflowId]);
  return Object.fromEntries(rows.map((row) => [row.task_id, row.status]));
}

const MiB = 1024 * 1024;

test('a batch of parents waits for its child at the quick path lock; the child is released once both succeeded, with requirements learned then; the ledger books both', async () => {
  const childName = `quick-child-${Date.now()}`;
  // History of the child's task: 500 MiB peaks, so its release learns memory ≥ 600 MiB.
  const history = await server.registerWorker();
  for (let index = 0; index < 3; index += 1) {
    const created = expectStatus(await server.request<{ id: number }>('POST', '/api/v1/work-requests', {
      token: server.adminToken, body: { task_name: childName, execution: { executable: '/bin/true' } },
    }), 201, 'create history request').body;
    const [claimed] = await history.claimOk({ max: 1 });
    expect(claimed.id).toBe(created.id);
    expectStatus(await completeBatch(history, [{ id: claimed.id, output_data: { runtime_statistics: { memory: 500 * MiB, duration: 1 } } }]), 200, 'history');
  }
  await createWorkflow('quick', [step('p1', 'quick-parent'), step('p2', 'quick-parent'), step('c', childName, ['p1', 'p2']), step('d', 'quick-parent', ['c'])]);
  const worker = await server.registerWorker({ concurrency: 2 });
  const claimed = await worker.claimOk({ max: 2 });
  const byTask = await taskIdsOf(claimed.map((item) => item.id));
  expect([...byTask.keys()].sort()).toEqual(['p1', 'p2']);

  // p1 alone: its child locked from outside, the completion waits in the quick path's statement.
  await holder.query('begin');
  await holder.query(`select id from work_request where workflow_id = 'quick' and task_id = 'c' for update`);
  const first = completeBatch(worker, [{ id: byTask.get('p1')! }]);
  try {
    const deadline = Date.now() + 15_000;
    let waiting: string[] = [];
    while (waiting.length === 0 && Date.now() < deadline) {
      waiting = (await server.sql<{ query: string }>(
        `select query from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and application_name not like 'worksched-test-%'`,
      )).map((row) => row.query);
      if (waiting.length === 0) await sleep(20);
    }
    // The completion and the release go as one string; the completion's dependants lock is what waits.
    expect(waiting).toEqual([expect.stringMatching(/^execute worksched_workflow_batch_complete_sql\(/)]);
  } finally {
    await holder.query('commit');
  }
  expect(expectStatus(await first, 200).body.results).toEqual([{ id: byTask.get('p1'), status: 200 }]);
  expect(await statusOf('quick')).toEqual({ c: 'blocked', d: 'blocked', p1: 'completed', p2: 'running' });

  expect(expectStatus(await completeBatch(worker, [{ id: byTask.get('p2')! }]), 200).body.results).toEqual([{ id: byTask.get('p2'), status: 200 }]);
  expect(await statusOf('quick')).toEqual({ c: 'pending', d: 'blocked', p1: 'completed', p2: 'completed' });
  const [child] = await server.sql<{ need_memory: string | null; learned: Array<{ resource: string }>; state_reason: string | null }>(
    `select need_memory, learned_requirements as learned, state_reason from work_request where workflow_id = 'quick' and task_id = 'c'`,
  );
  expect(Number(child.need_memory)).toBe(Math.ceil(500 * MiB * 1.2));
  expect(child.learned.map((item) => item.resource)).toContain('memory');
  expect(child.state_reason).toBeNull();
  const [ledger] = await server.sql<{ tasks: number; successes: number }>(
    `select tasks::int, successes::int from workflow_worker where workflow_id = 'quick' and worker_id = $1`, [worker.id],
  );
  expect(ledger).toEqual({ tasks: 2, successes: 2 });
  expect(await getWorkflow('quick')).toMatchObject({ status: 'RUNNING', task_counts: { total: 4, completed: 2, pending: 1, blocked: 1 } });

  // The rest (the last task: the full path, which ends the workflow).
  for (const taskId of ['c', 'd']) {
    const [request] = await worker.claimOk({ max: 2 });
    expect((await taskIdsOf([request.id])).has(taskId)).toBe(true);
    expect(expectStatus(await completeBatch(worker, [{ id: request.id }]), 200).body.results[0].status).toBe(200);
  }
  const finished = await getWorkflow('quick');
  expect(finished).toMatchObject({ status: 'SUCCESSFUL', task_counts: { total: 4, completed: 4 } });
  expect(finished.stats.end_time).toEqual(expect.any(String));
});

test('a batch whose dependant takes a from parameter ends as the full path decides: the parameter filled in', async () => {
  await createWorkflow('quick-from', [
    step('a', 'quick-from'),
    step('b', 'quick-from'),
    step('c', 'quick-from', ['a', 'b'], { execution: { executable: '/bin/echo', args: [], parameters: { size: { from: 'a', path: 'out.size' } } } }),
    step('e', 'quick-from', ['b']),
  ]);
  const worker = await server.registerWorker({ concurrency: 2 });
  const byTask = await taskIdsOf((await worker.claimOk({ max: 2 })).map((item) => item.id));
  const answer = expectStatus(await completeBatch(worker, [{ id: byTask.get('a')!, output_data: { result: { out: { size: 7 } } } }, { id: byTask.get('b')! }]), 200).body;
  expect(answer.results.map((item) => item.status)).toEqual([200, 200]);
  expect(await statusOf('quick-from')).toEqual({ a: 'completed', b: 'completed', c: 'pending', e: 'pending' });
  const [c] = await server.sql<{ size: unknown }>(`select task_data -> 'execution' -> 'parameters' -> 'size' as size from work_request where workflow_id = 'quick-from' and task_id = 'c'`);
  expect(c.size).toBe(7);
});
