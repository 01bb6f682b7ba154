/**
 * Preemption decisions with simulated workers (housekeeping run by hand): who may preempt whom, the reserved
 * slot, the heartbeat that tells the worker, and the window within which a request is not preempted again.
 */
import { startTestServer, type SimWorker, type TestServer } from '../helpers/server';
import { pollUntil } from '../helpers/waitFor';

let server: TestServer;
afterEach(async () => {
  await server?.close();
});

const PREEMPT_AFTER_S = 1;

async function setUp(): Promise<{ worker: SimWorker; other: SimWorker }> {
  server = await startTestServer({ housekeepingIntervalS: 59, preemptAfterS: PREEMPT_AFTER_S });
  // `other` cannot run anything asking for 1 GiB: it never offers a free slot to those requests.
  const worker = await server.registerWorker({ concurrency: 1, totalMemory: 8 * 1024 ** 3 });
  const other = await server.registerWorker({ concurrency: 1, totalMemory: 512 * 1024 ** 2 });
  return { worker, other };
}

/** Runs housekeeping passes until `done` holds (the waiting request must first wait PREEMPT_AFTER_S). */
async function passUntil(done: () => Promise<boolean>, description: string): Promise<void> {
  await pollUntil(async () => {
    await server.server.housekeeping.runOnce();
    return done();
  }, { description, timeoutMs: 10_000, intervalMs: 200 });
}

/** Waits past the preemption delay, then one more pass: what has not happened by then will not. */
async function waitPastDelayAndPass(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, PREEMPT_AFTER_S * 1000 + 300));
  await server.server.housekeeping.runOnce();
}

const GiB = '1GiB';

test('the waiting higher-priority request preempts the running lower one; the slot is kept for it; the heartbeat says preempted', async () => {
  const { worker } = await setUp();
  const low = await server.createWorkRequest({ priority: 1, resources: { memory: GiB } });
  expect((await worker.claimOk()).map((item) => item.id)).toEqual([low.id]);
  const high = await server.createWorkRequest({ priority: 5, resources: { memory: GiB } });
  await passUntil(async () => (await server.getWorkRequest(low.id)).status === 'pending', 'the low one to be preempted');
  // Even a request of higher priority than the preempting one, created since, does not take the reserved slot.
  const later = await server.createWorkRequest({ priority: 8, resources: { memory: GiB } });
  expect(await server.getWorkRequest(low.id)).toMatchObject({ status: 'pending', attempt: 1, worker: null, state_reason: `preempted by #${high.id} (priority 5)` });
  expect((await server.getWorkRequest(high.id)).state_reason).toMatch(new RegExp(`^preempted #${low.id} \\(priority 1\\) on worker ${worker.name}; that slot is kept for it$`));

  const beat = await worker.heartbeat([low.id]);
  expect(beat.body).toMatchObject({ cancel: [low.id], preempted: [low.id] });
  // A log post of the stopped run is refused distinctly, so the worker does not take it for a cancel.
  const logs = await worker.postLogs(low.id, [{ seq: 0, text: 'late' }]);
  expect(logs.status).toBe(409);
  expect(logs.body.error?.code).toBe('preempted');

  expect((await worker.claimOk()).map((item) => item.id)).toEqual([high.id]);
  expect((await server.sql(`select count(*)::int as n from task_history where work_request_id = $1`, [low.id]))[0].n).toBe(0);
  expect((await worker.complete(high.id)).status).toBe(200);
  // Reservation used: claim order again (later before low).
  expect((await worker.claimOk()).map((item) => item.id)).toEqual([later.id]);
});

test('never for equal or lower priority, never an interrupt_allowed: false request, never twice within the window', async () => {
  const { worker } = await setUp();
  const pinned = await server.createWorkRequest({ priority: 0, interrupt_allowed: false, resources: { memory: GiB } });
  expect((await worker.claimOk()).map((item) => item.id)).toEqual([pinned.id]);
  const equal = await server.createWorkRequest({ priority: 0, resources: { memory: GiB } });
  const higher = await server.createWorkRequest({ priority: 9, resources: { memory: GiB } });
  await waitPastDelayAndPass();
  expect(await server.getWorkRequest(pinned.id)).toMatchObject({ status: 'running', state_reason: null });
  expect((await worker.complete(pinned.id)).status).toBe(200);
  expect((await worker.claimOk()).map((item) => item.id)).toEqual([higher.id]);
  expect((await worker.complete(higher.id)).status).toBe(200);

  // `equal` runs; one of the same priority waits: no preemption.
  expect((await worker.claimOk()).map((item) => item.id)).toEqual([equal.id]);
  const same = await server.createWorkRequest({ priority: 0, resources: { memory: GiB } });
  await waitPastDelayAndPass();
  expect((await server.getWorkRequest(equal.id)).status).toBe('running');

  // Preempted just now (as if a moment ago): a higher one waiting does not preempt it again within the window.
  await server.sql(`update work_request set preempted_at = now() + interval '1 hour' where id = $1`, [equal.id]);
  const urgent = await server.createWorkRequest({ priority: 7, resources: { memory: GiB } });
  await waitPastDelayAndPass();
  expect((await server.getWorkRequest(equal.id)).status).toBe('running');
  // Once the window is over, it may be.
  await server.sql(`update work_request set preempted_at = now() - interval '1 hour' where id = $1`, [equal.id]);
  await passUntil(async () => (await server.getWorkRequest(equal.id)).status === 'pending', 'the equal one to be preempted by the urgent one');
  expect((await server.getWorkRequest(equal.id)).state_reason).toBe(`preempted by #${urgent.id} (priority 7)`);
  expect((await server.getWorkRequest(same.id)).status).toBe('pending');
});

test('WORKSCHED_PREEMPT_AFTER_S=0 disables preemption', async () => {
  server = await startTestServer({ housekeepingIntervalS: 59, preemptAfterS: 0 });
  const worker = await server.registerWorker({ concurrency: 1 });
  const low = await server.createWorkRequest({ priority: 0 });
  expect((await worker.claimOk()).map((item) => item.id)).toEqual([low.id]);
  await server.createWorkRequest({ priority: 100 });
  await new Promise((resolve) => setTimeout(resolve, 1_300));
  await server.server.housekeeping.runOnce();
  expect((await server.getWorkRequest(low.id)).status).toBe('running');
});
