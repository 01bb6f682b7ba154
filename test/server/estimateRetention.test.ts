/**
 * Estimate retention: the ETA pass keeps a row per pending or running request; once a request has ended a day
 * ago (or was deleted) its row goes, so work_request_eta stays the size of the queue.
 */
import { MiB, expectStatus, startTestServer, uniqueTaskName, type TestServer } from '../helpers/server';

let server: TestServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

const etaIds = async (s: TestServer) =>
  (await s.sql<{ work_request_id: string }>(`select work_request_id from work_request_eta order by work_request_id`)).map((row) => Number(row.work_request_id));

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
  // A row left by a request deleted since (the table has no foreign key).
  await s.sql(`insert into work_request_eta (work_request_id, eta_reason, computed_at, eta_shape) values (999999999, 'gone', now(), 0)`);

  expect(await s.server.housekeeping.pruneEstimatesOnce()).toBe(2);
  expect(await etaIds(s)).toEqual([endedRecently.id, waiting.id]);
  expect((await s.getWorkRequest(waiting.id)).eta_reason).not.toBeNull();
});
