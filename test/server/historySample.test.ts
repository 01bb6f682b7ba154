/**
 * Learned requirements follow the task's recent behaviour: they look at the newest successful runs (as many as
 * history retention keeps per key), not at every run ever recorded, so old peaks stop counting once enough
 * newer runs exist, and the cost of learning does not grow with the history.
 */
import type { WorkRequest } from '../../protocol/workRequest';
import { expectStatus, MiB, GiB, startTestServer, uniqueTaskName, type TestServer } from '../helpers/server';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ historyRetentionRuns: 3 });
});

afterAll(async () => {
  await server.close();
});

test('memory is learned from the newest N successful runs only', async () => {
  const worker = await server.registerWorker({ totalMemory: 8 * GiB });
  const key = { task_name: uniqueTaskName('recent'), subject: 's', context: 'c' };
  // Two old runs peaking at 1000 MiB, then three newer ones at 100, 110 and 120 MiB.
  for (const peak of [1000, 1000, 100, 110, 120]) {
    const created = await server.createWorkRequest(key);
    expect((await worker.claimOk({ max: 5 })).map((item) => item.id)).toEqual([created.id]);
    expectStatus(await worker.complete(created.id, { result: 'success', output_data: { runtime_statistics: { memory: peak * MiB } } }), 200, 'complete');
  }
  const next: WorkRequest = await server.createWorkRequest(key);
  const memory = next.learned_requirements.find((item) => item.resource === 'memory');
  // percentile_cont(0.95) of [100, 110, 120] MiB = 100 + 0.95 × 2 × 10 = 119 MiB; × 1.2 headroom.
  expect(memory?.value).toBe(Math.ceil(119 * MiB * 1.2));
  expect(memory?.reason).toContain('p95 of 3 successful runs');
});
