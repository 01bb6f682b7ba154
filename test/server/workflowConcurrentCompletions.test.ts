/**
 * Batched successes of one workflow's tasks completed at the same moment by different workers (they hold the
 * workflow's row only FOR KEY SHARE and lock the dependants they decide): a child of several parents is released
 * exactly once, the last tasks ending together leave the workflow SUCCESSFUL with its counts and end_time right,
 * and a layered workflow drained by racing workers ends the same way, with no deadlock broken on the way.
 */
import type { Client } from 'pg';
import type { Workflow } from '../../protocol/workflow';
import { WORKFLOW_GATE_CLASS } from '../../server/workflows/lockWorkflows';
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

const deadlocks = async () => {
  await server.sql('select pg_stat_clear_snapshot()');
  return Number((await server.sql<{ deadlocks: string }>('select deadlocks from pg_stat_database where datname = current_database()'))[0].deadlocks);
};

const step = (taskId: string, dependsOn: string[] = []) => ({
  task_id: taskId,
  task_name: `concurrent-${taskId}`,
  execution: { executable: '/bin/true', args: [] },
  max_attempts: 1,
  ...(dependsOn.length > 0 ? { depends_on: dependsOn } : {}),
});

async function createWorkflow(id: string, tasks: Array<ReturnType<typeof step>>): Promise<void> {
  expectStatus(await server.request('POST', '/api/v1/workflows', { token: server.adminToken, body: { workflow_id: id, tasks } }), 201, `create ${id}`);
}

async function getWorkflow(id: string): Promise<Workflow> {
  return expectStatus(await server.request<Workflow>('GET', `/api/v1/workflows/${id}`, { token: server.adminToken }), 200, `get ${id}`).body;
}

function completeBatch(worker: SimWorker, ids: number[]) {
  return worker.call<{ results: Array<{ id: number; status: number }> }>('POST', '/api/v1/workers/complete', {
    results: ids.map((id) => ({ id, result: 'success', output_data: {} })),
  });
}

/** Waits until `count` server connections wait on a lock (the holder's, or one queued behind it); their statements. */
async function waitForLockWaiters(count: number): Promise<string[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const waiting = (await server.sql<{ query: string }>(
      `select query from pg_stat_activity
       where datname = current_database() and wait_event_type = 'Lock' and application_name not like 'worksched-test-%'`,
    )).map((row) => row.query);
    if (waiting.length >= count) return waiting;
    if (Date.now() > deadline) throw new Error(`only ${waiting.length} of ${count} completions waiting on a lock`);
    await sleep(20);
  }
}

/** Each worker claims one task; answers the claimed ids by task id. */
async function claimOneEach(workers: SimWorker[]): Promise<Map<string, { id: number; worker: SimWorker }>> {
  const claimed = new Map<string, { id: number; worker: SimWorker }>();
  for (const worker of workers) {
    const [request] = await worker.claimOk({ max: 1 });
    const [{ task_id: taskId }] = await server.sql<{ task_id: string }>('select task_id from work_request where id = $1', [request.id]);
    claimed.set(taskId, { id: request.id, worker });
  }
  return claimed;
}

test('three parents completed at once by three workers release their child exactly once', async () => {
  const deadlocksBefore = await deadlocks();
  await createWorkflow('fan-in', [step('p1'), step('p2'), step('p3'), step('c', ['p1', 'p2', 'p3']), step('d', ['c'])]);
  const workers = await Promise.all([1, 2, 3].map(() => server.registerWorker()));
  const parents = await claimOneEach(workers);
  expect([...parents.keys()].sort()).toEqual(['p1', 'p2', 'p3']);

  // The child's row held from outside: every completion has completed its parent (uncommitted) and waits for
  // the child; then each decides in turn, the first ones seeing other parents still running.
  await holder.query('begin');
  await holder.query(`select id from work_request where workflow_id = 'fan-in' and task_id = 'c' for update`);
  const answers = [...parents.values()].map(({ id, worker }) => completeBatch(worker, [id]));
  try {
    // All at the child's lock, none queued on the workflow's row.
    const waiting = await waitForLockWaiters(3);
    // The quick path's completion (its dependants lock), not its workflow lock (the string with `begin`).
    for (const query of waiting) expect(query).toMatch(/^execute worksched_workflow_batch_complete_sql\(/);
  } finally {
    await holder.query('commit');
  }
  for (const answer of await Promise.all(answers)) expect(expectStatus(answer, 200).body.results).toEqual([expect.objectContaining({ status: 200 })]);

  const attempts = await server.sql<{ task_id: string; status: string; attempt: number }>(
    `select task_id, status, attempt from work_request where workflow_id = 'fan-in' order by task_id, id`,
  );
  expect(attempts).toEqual([
    { task_id: 'c', status: 'pending', attempt: 1 },
    { task_id: 'd', status: 'blocked', attempt: 1 },
    { task_id: 'p1', status: 'completed', attempt: 1 },
    { task_id: 'p2', status: 'completed', attempt: 1 },
    { task_id: 'p3', status: 'completed', attempt: 1 },
  ]);
  expect(await getWorkflow('fan-in')).toMatchObject({ status: 'RUNNING', task_counts: { total: 5, completed: 3, pending: 1, blocked: 1 } });

  // The child is claimed once, then its own child; nothing else is left to claim.
  for (const taskId of ['c', 'd']) {
    const [request] = await workers[0].claimOk({ max: 4 });
    expect((await server.sql<{ task_id: string }>('select task_id from work_request where id = $1', [request.id]))[0].task_id).toBe(taskId);
    expect(expectStatus(await completeBatch(workers[0], [request.id]), 200).body.results[0].status).toBe(200);
  }
  expect(await workers[1].claimOk({ max: 4, wait_s: 0 })).toEqual([]);
  const finished = await getWorkflow('fan-in');
  expect(finished).toMatchObject({ status: 'SUCCESSFUL', task_counts: { total: 5, completed: 5 } });
  expect(finished.stats.end_time).toEqual(expect.any(String));
  expect(await deadlocks()).toBe(deadlocksBefore);
});

test('the last two tasks ending at once leave the workflow SUCCESSFUL with end_time', async () => {
  const deadlocksBefore = await deadlocks();
  await createWorkflow('last-two', [step('x1'), step('x2')]);
  const workers = await Promise.all([1, 2].map(() => server.registerWorker()));
  const tasks = await claimOneEach(workers);

  // Held from outside where each completion decides the status: the first to get it still sees the other
  // task running, the second sees both ended.
  await holder.query('begin');
  await holder.query(`select workflow_id from workflow where workflow_id = 'last-two' for no key update`);
  const answers = [...tasks.values()].map(({ id, worker }) => completeBatch(worker, [id]));
  try {
    await waitForLockWaiters(2);
  } finally {
    await holder.query('commit');
  }
  for (const answer of await Promise.all(answers)) expect(expectStatus(answer, 200).body.results[0].status).toBe(200);
  const finished = await getWorkflow('last-two');
  expect(finished).toMatchObject({ status: 'SUCCESSFUL', task_counts: { total: 2, completed: 2 } });
  expect(finished.stats.end_time).toEqual(expect.any(String));
  expect(await deadlocks()).toBe(deadlocksBefore);
});

test('a layered workflow drained by racing workers with batched claims: every task once, SUCCESSFUL', async () => {
  const deadlocksBefore = await deadlocks();
  const layers = 6;
  const width = 8;
  const tasks = [];
  for (let layer = 0; layer < layers; layer += 1) {
    for (let column = 0; column < width; column += 1) {
      tasks.push(step(`l${layer}.c${column}`, layer === 0 ? [] : [`l${layer - 1}.c${column}`, `l${layer - 1}.c${(column + 1) % width}`]));
    }
  }
  await createWorkflow('layers', tasks);
  const workers = await Promise.all([1, 2, 3, 4].map(() => server.registerWorker({ concurrency: 4 })));
  let completed = 0;
  const deadline = Date.now() + 60_000;
  await Promise.all(workers.map(async (worker) => {
    let results: Array<{ id: number; result: 'success'; output_data: object }> = [];
    while (completed < layers * width && Date.now() < deadline) {
      const answer = expectStatus(await worker.call<{ work_requests: Array<{ id: number }>; results: Array<{ status: number }> }>(
        'POST', '/api/v1/workers/claim', { max: 4, wait_s: results.length > 0 ? 0 : 1, results },
      ), 200, `claim by ${worker.name}`).body;
      for (const item of answer.results) expect(item.status).toBe(200);
      completed += answer.results.length;
      results = answer.work_requests.map((item) => ({ id: item.id, result: 'success', output_data: {} }));
    }
  }));
  expect(completed).toBe(layers * width);
  const rows = await server.sql<{ attempts: number; completed: number; successes: number }>(
    `select count(*)::int as attempts, count(*) filter (where status = 'completed')::int as completed, count(*) filter (where result = 'success')::int as successes
     from work_request where workflow_id = 'layers'`,
  );
  expect(rows).toEqual([{ attempts: layers * width, completed: layers * width, successes: layers * width }]);
  const finished = await getWorkflow('layers');
  expect(finished).toMatchObject({ status: 'SUCCESSFUL', task_counts: { total: layers * width, completed: layers * width } });
  expect(finished.stats.end_time).toEqual(expect.any(String));
  expect(await deadlocks()).toBe(deadlocksBefore);
});

test('a cancel waiting for a busy workflow is not overtaken by completions that arrive after it', async () => {
  await createWorkflow('gate', [step('g1'), step('g2'), step('g3'), step('after', ['g1', 'g2', 'g3'])]);
  const workers = await Promise.all([1, 2].map(() => server.registerWorker()));
  const tasks = await claimOneEach(workers);

  // A completion in progress, held from outside: the gate shared and the row FOR KEY SHARE, as completions take them.
  await holder.query('begin');
  await holder.query(`select pg_advisory_xact_lock_shared(${WORKFLOW_GATE_CLASS}, hashtext('gate'))`);
  await holder.query(`select workflow_id from workflow where workflow_id = 'gate' for key share`);
  const order: string[] = [];
  let cancel: Promise<unknown>;
  let completion: Promise<unknown>;
  try {
    cancel = server.request<Workflow>('POST', '/api/v1/workflows/gate/cancel', { token: server.adminToken }).then((answer) => {
      order.push('cancel');
      return answer;
    });
    await waitForLockWaiters(1);
    // KEY SHARE alone would let this one straight past the waiting cancel; the gate queues it behind.
    const { id, worker } = tasks.get('g1') ?? tasks.values().next().value!;
    completion = completeBatch(worker, [id]).then((answer) => {
      order.push('completion');
      return answer;
    });
    await waitForLockWaiters(2);
  } finally {
    await holder.query('commit');
  }
  expectStatus((await cancel) as Awaited<ReturnType<typeof server.request>>, 200, 'cancel');
  await completion;
  expect(order).toEqual(['cancel', 'completion']);
  expect((await getWorkflow('gate')).status).toBe('CANCELED');
});
