/**
 * Efficiency per key is refreshed by housekeeping from the key's successful runs. A success counts however its
 * completion time compares with the last refresh: completed_at is its transaction's time, so a success that
 * commits just after a refresh read the history may carry an earlier time than that refresh.
 */
import type { CompleteWorkRequest } from '../../protocol/workerApi';
import { whileRowsLocked } from '../helpers/database';
import { MiB, expectStatus, startTestServer, uniqueTaskName, type TestServer } from '../helpers/server';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const SUCCESS: CompleteWorkRequest = { result: 'success', output_data: { runtime_statistics: { memory: 100 * MiB, duration: 1 } } };

async function efficiencyRuns(s: TestServer, taskName: string): Promise<number> {
  const rows = await s.sql<{ efficiency_runs: number }>(`select efficiency_runs from task_key where task_name = $1`, [taskName]);
  return rows[0].efficiency_runs;
}

test('a success whose completion time is older than the last refresh is still counted at the next one', async () => {
  server = await startTestServer();
  const s = server;
  const worker = await s.registerWorker();
  const taskName = uniqueTaskName('seff');
  const runOnce = async () => {
    const created = await s.createWorkRequest({ task_name: taskName, resources: { memory: '1GiB' } });
    expect((await worker.claimOk({ max: 1 })).map((item) => item.id)).toEqual([created.id]);
    expectStatus(await worker.complete(created.id, SUCCESS), 200, `complete #${created.id}`);
  };

  await runOnce();
  await s.runHousekeeping();
  expect(await efficiencyRuns(s, taskName)).toBe(1);

  await runOnce();
  // As if this completion's transaction had started before the refresh above and committed after it.
  await s.sql(
    `update task_history set completed_at = (select efficiency_at - interval '1 second' from task_key where task_name = $1)
     where task_name = $1 and completed_at > (select efficiency_at from task_key where task_name = $1)`,
    [taskName],
  );
  await s.sql(`update task_key_increment set completed_at = (select efficiency_at - interval '1 second' from task_key where task_name = $1) where task_name = $1`, [taskName]);
  await s.runHousekeeping();
  expect(await efficiencyRuns(s, taskName)).toBe(2);
  // Nothing new: the next pass leaves the key alone.
  const before = (await s.sql<{ efficiency_at: Date }>(`select efficiency_at from task_key where task_name = $1`, [taskName]))[0].efficiency_at;
  await s.runHousekeeping();
  const after = (await s.sql<{ efficiency_at: Date }>(`select efficiency_at from task_key where task_name = $1`, [taskName]))[0].efficiency_at;
  expect(after).toEqual(before);
});

test('a key row another transaction holds is skipped, not waited for, and refreshed at the next pass', async () => {
  server = await startTestServer();
  const s = server;
  const worker = await s.registerWorker();
  const [held, free] = [uniqueTaskName('seff-held'), uniqueTaskName('seff-free')];
  for (const taskName of [held, free]) {
    const created = await s.createWorkRequest({ task_name: taskName, resources: { memory: '1GiB' } });
    expect((await worker.claimOk({ max: 1 })).map((item) => item.id)).toEqual([created.id]);
    expectStatus(await worker.complete(created.id, SUCCESS), 200, `complete #${created.id}`);
  }
  // A statistics read rolls the runs up into task_key (no efficiency refresh): the pass below has nothing else to write there.
  expectStatus(await s.request('GET', '/api/v1/statistics/tasks', { token: s.adminToken }), 200, 'statistics');

  // A roll-up or retention of another replica holding one key's row: the pass finishes without it.
  const lock = { text: `select id from task_key where task_name = $1 for update`, values: [held] };
  const pass = await whileRowsLocked(s.db.url, lock, async () => {
    await s.runHousekeeping();
    return { free: await efficiencyRuns(s, free), held: await efficiencyRuns(s, held) };
  });
  expect(pass).toEqual({ free: 1, held: 0 });
  await s.runHousekeeping();
  expect(await efficiencyRuns(s, held)).toBe(1);
});
