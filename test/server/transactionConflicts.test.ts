/**
 * Deadlocks never reach a client: a batch of results locks its requests in id order (two batches with the same
 * ids in opposite orders never deadlock), disabling a worker never waits against its results' lock order, and a transaction PostgreSQL rolls back to break a real deadlock
 * (induced here with a connection of the test's own) is run again by the server, answered 200, applied once.
 */
import { Client } from 'pg';
import type { CompletionAnswer } from '../../protocol/workerApi';
import { expectStatus, startTestServer, type SimWorker, type TestServer } from '../helpers/server';
import { pollUntil } from '../helpers/waitFor';

let server: TestServer;
let deadlocksAtStart: number;

beforeAll(async () => {
  server = await startTestServer();
  deadlocksAtStart = await deadlocks();
});

afterAll(async () => {
  await server?.close();
});

/** Deadlocks PostgreSQL detected in this test's database (as far as its backends have reported them). */
async function deadlocks(): Promise<number> {
  await server.sql('select pg_stat_clear_snapshot()');
  const [row] = await server.sql<{ deadlocks: string }>('select deadlocks from pg_stat_database where datname = current_database()');
  return Number(row.deadlocks);
}

async function runningOn(worker: SimWorker, count: number): Promise<number[]> {
  for (let index = 0; index < count; index += 1) await server.createWorkRequest({ max_attempts: 1 });
  const claimed = await worker.claimOk({ max: count });
  expect(claimed).toHaveLength(count);
  return claimed.map((request) => request.id).sort((a, b) => a - b);
}

const completeBatch = (worker: SimWorker, ids: number[], result: 'success' | 'failure') =>
  worker.call<{ results: CompletionAnswer[] }>('POST', '/api/v1/workers/complete', { results: ids.map((id) => ({ id, result, output_data: {} })) });

const historyRows = async (ids: number[]) =>
  (await server.sql<{ id: string; n: string }>(
    `select r.id, count(h.id) as n from work_request r left join task_history h on h.work_request_id = r.id where r.id = any($1::bigint[]) group by r.id`,
    [ids],
  )).map((row) => Number(row.n));

test('the same batch of results sent twice at once, in opposite orders, answers 200 for every item and applies each once', async () => {
  const worker = await server.registerWorker({ concurrency: 40 });
  for (let round = 0; round < 5; round += 1) {
    const ids = await runningOn(worker, 20);
    // Failures take the per-item path, which locked in report order before.
    const result = round % 2 === 0 ? 'failure' : 'success';
    const answers = await Promise.all([completeBatch(worker, ids, result), completeBatch(worker, [...ids].reverse(), result)]);
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.body.results.map((item) => item.status)).toEqual(ids.map(() => 200));
    }
    const rows = await server.sql<{ status: string; result: string }>(`select status, result from work_request where id = any($1::bigint[])`, [ids]);
    expect(rows).toEqual(ids.map(() => ({ status: 'completed', result })));
    expect(await historyRows(ids)).toEqual(ids.map(() => 1));
  }
});

test('a worker disabled while its workflow tasks report their results: every answer 200 or 409, nothing left running', async () => {
  for (let round = 0; round < 4; round += 1) {
    const worker = await server.registerWorker({ concurrency: 20 });
    const workflowId = `disable-race-${round}`;
    const tasks = Array.from({ length: 10 }, (_, index) => ({ task_id: `t${index}`, task_name: 'disable-race', execution: { executable: '/bin/true', args: [] }, max_attempts: 1 }));
    expectStatus(await server.request('POST', '/api/v1/workflows', { token: server.adminToken, body: { workflow_id: workflowId, tasks } }), 201, 'create workflow');
    const claimed = await worker.claimOk({ max: 10 });
    expect(claimed).toHaveLength(10);
    const answers = await Promise.all([
      ...claimed.map((request, index) => worker.complete(request.id, { result: index % 2 === 0 ? 'success' : 'failure', output_data: { runtime_statistics: { duration_ms: 10 } } })),
      server.request('POST', `/api/v1/workers/${worker.name}/disable`, { token: server.adminToken }),
    ]);
    // A report that lost the race to the disable finds its request requeued or aborted: 409, as for a lost worker.
    expect(answers.map((answer) => answer.status).filter((status) => status !== 200 && status !== 409)).toEqual([]);
    expect(answers.at(-1)!.status).toBe(200);
    expect(await server.sql(`select id from work_request where workflow_id = $1 and status = 'running'`, [workflowId])).toEqual([]);
  }
});

test('a completion that PostgreSQL picks as the victim of a real deadlock is run again by the server: 200, applied once', async () => {
  const worker = await server.registerWorker({ concurrency: 4 });
  const blocker = new Client({ connectionString: server.db.url, application_name: 'worksched-test-deadlock' });
  await blocker.connect();
  try {
    // The server's session detects the cycle after its deadlock_timeout (1 s) and is rolled back; ours waits
    // longer. Should ours come second to the check anyway (a slow machine), it is the victim: try again.
    let serverWasVictim = false;
    let cycles = 0;
    for (let attempt = 0; attempt < 3 && !serverWasVictim; attempt += 1) {
      cycles += 1;
      const [first, second] = await runningOn(worker, 2);
      await blocker.query('begin');
      await blocker.query(`set local deadlock_timeout = '5s'`);
      await blocker.query('select id from work_request where id = $1 for update', [second]);
      // The server locks `first`, then waits for `second`...
      const answer = completeBatch(worker, [second, first], 'success');
      await pollUntil(
        async () => (await server.sql<{ n: string }>(
          `select count(*) as n from pg_locks l join pg_stat_activity a on a.pid = l.pid
           where not l.granted and l.locktype = 'transactionid' and a.datname = current_database() and a.application_name not like 'worksched-test%'`,
        ))[0].n !== '0',
        { description: 'the server waiting for the row the test holds', intervalMs: 10 },
      );
      // ...and we wait for `first`: a cycle.
      const ours = await blocker.query('select id from work_request where id = $1 for update', [first]).then(
        () => 'got the lock',
        (error: { code?: string }) => error.code,
      );
      await blocker.query('rollback');
      serverWasVictim = ours === 'got the lock';
      if (!serverWasVictim) expect(ours).toBe('40P01');
      const answered = expectStatus(await answer, 200, 'batch complete');
      expect(answered.body.results).toEqual([{ id: second, status: 200 }, { id: first, status: 200 }]);
      expect(await server.sql(`select status, result from work_request where id = any($1::bigint[])`, [[first, second]])).toEqual([
        { status: 'completed', result: 'success' },
        { status: 'completed', result: 'success' },
      ]);
      expect(await historyRows([first, second])).toEqual([1, 1]);
    }
    expect(serverWasVictim).toBe(true);
    // PostgreSQL counts the deadlocks it broke: one per cycle induced here, and none from the tests before.
    const counted = await pollUntil(() => deadlocks(), { until: (count) => count - deadlocksAtStart >= cycles, description: 'the deadlocks to be counted', timeoutMs: 20_000, intervalMs: 250 });
    expect(counted - deadlocksAtStart).toBe(cycles);
  } finally {
    await blocker.end();
  }
});
