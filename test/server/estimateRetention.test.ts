/**
 * Estimate retention: the ETA pass keeps an estimate for each pending or running request; once a request has ended
 * a day ago (or was deleted) its estimate goes, so the stored estimates stay the size of the queue.
 */
import { storeEstimates, storedEstimateIds as etaIds } from '../helpers/estimates';
import { MiB, expectStatus, startTestServer, uniqueTaskName, type TestServer } from '../helpers/server';

let server: TestServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

test('estimates of requests that ended over a day ago, or no longer exist, are deleted; the queue\'s and recent ones stay', async () => {
  server = await startTestServer();
  const s = server;
  const worker = await s.registerWorker();
  const taskName = uniqueTaskName('eta-retention');
  const [endedLongAgo, endedRecently] = [await s.createWorkRequest({ task_name: taskName }), await s.createWorkRequest({ task_name: taskName })];
  const waiting = await s.createWorkRequest({ task_name: taskName });
  await s.server.housekeeping.refreshEstimatesOnce();
  expect(await etaIds(s)).toEqual([endedLongAgo.id, endedRecently.id, waiting.id]);

  for (const id of (await worker.claimOk({ max: 2 })).map((item) => item.id)) {
    expectStatus(await worker.complete(id, { result: 'success', output_data: { runtime_statistics: { memory: 10 * MiB, duration: 1 } } }), 200, `complete #${id}`);
  }
  await s.sql(`update work_request set completed_at = now() - interval '25 hours' where id = $1`, [endedLongAgo.id]);
  // An estimate left by a request deleted since (the chunks have no foreign key).
  await storeEstimates(s, [{ id: 999999999, start: null, end: null, reason: 'gone' }]);

  expect(await s.server.housekeeping.pruneEstimatesOnce()).toBe(2);
  expect(await etaIds(s)).toEqual([endedRecently.id, waiting.id]);
  expect((await s.getWorkRequest(waiting.id)).eta_reason).not.toBeNull();
});
