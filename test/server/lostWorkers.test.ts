/**
 * Workers that stop heartbeating: after the timeout housekeeping marks them offline, requeues what may be
 * interrupted (a new attempt, with a system log line) and aborts the rest with `worker_lost`; the lost worker
 * can no longer complete, and hears from its next heartbeat what it must stop. Also the release route.
 */
import type { LogEntry, WorkRequest } from '../../protocol/workRequest';
import type { Worker } from '../../protocol/workerApi';
import { expectStatus, sleep, startTestServer, type SimWorker, type TestServer } from '../helpers/server';
import { pollUntil } from '../helpers/waitFor';
import { waitUntilWorkersSilent } from '../helpers/workerSilence';

let server: TestServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function workerState(s: TestServer, worker: SimWorker): Promise<Worker> {
  const answer = expectStatus(await s.request<{ workers: Worker[] }>('GET', '/api/v1/workers', { token: s.adminToken }), 200, 'list workers');
  const found = answer.body.workers.find((item) => item.id === worker.id);
  if (!found) throw new Error(`worker ${worker.name} is not listed`);
  return found;
}

async function logsOf(s: TestServer, id: number): Promise<LogEntry[]> {
  return expectStatus(await s.request<{ entries: LogEntry[] }>('GET', `/api/v1/work-requests/${id}/logs`, { token: s.clientToken }), 200, 'logs').body
    .entries;
}

function waitUntilSilentFor(s: TestServer, worker: SimWorker, seconds: number): Promise<void> {
  return waitUntilWorkersSilent(s.db.url, seconds, worker.id);
}

test('a silent worker is marked offline; its interruptible request is requeued, the other aborted with worker_lost', async () => {
  // The cron job is kept rare so that runOnce() is what does the work here.
  server = await startTestServer({ heartbeatTimeoutS: 1, housekeepingIntervalS: 59 });
  const s = server;
  const lost = await s.registerWorker({ concurrency: 2 });
  const interruptible = await s.createWorkRequest({ interrupt_allowed: true, max_attempts: 3 });
  const fragile = await s.createWorkRequest({ interrupt_allowed: false });
  const claimed = await lost.claimOk({ max: 2 });
  expect(claimed.map((item) => item.id).sort((a, b) => a - b)).toEqual([interruptible.id, fragile.id]);
  expectStatus(await lost.postLogs(interruptible.id, [{ seq: 0, text: 'working\n' }, { seq: 1, text: 'still working\n' }]), 200, 'post logs');

  // Not lost yet: a sweep right after a heartbeat leaves everything as it is.
  expect((await lost.heartbeat([interruptible.id, fragile.id])).body.cancel).toEqual([]);
  await s.runHousekeeping();
  expect((await s.getWorkRequest(interruptible.id)).status).toBe('running');
  expect((await workerState(s, lost)).state).toBe('busy');

  await waitUntilSilentFor(s, lost, 1.2);
  await s.runHousekeeping();

  const worker = await workerState(s, lost);
  expect(worker.state).toBe('offline');
  expect(worker.running).toBe(0);

  const requeued = await s.getWorkRequest(interruptible.id);
  expect(requeued).toMatchObject({ status: 'pending', attempt: 2, worker: null, result: null, started_at: null });
  expect(requeued.state_reason).toMatch(/heartbeat/i);
  const logs = await logsOf(s, interruptible.id);
  expect(logs.map((entry) => [entry.seq, entry.stream])).toEqual([
    [0, 'stdout'],
    [1, 'stdout'],
    [2, 'system'],
  ]);
  expect(logs[2].text).toMatch(/heartbeat/i);
  expect(logs[2].text).toContain(lost.name);

  const aborted = await s.getWorkRequest(fragile.id);
  expect(aborted).toMatchObject({ status: 'aborted', result: 'error' });
  expect(aborted.completed_at).not.toBeNull();
  expect(aborted.output_data?.errors?.[0]?.code).toBe('worker_lost');
  const abortedLogs = await logsOf(s, fragile.id);
  expect(abortedLogs.at(-1)).toMatchObject({ stream: 'system' });
  expect(abortedLogs.at(-1)?.text).toMatch(/interrupt_allowed/);

  // The lost worker's late report is refused for the requeued request and changes nothing on the aborted one.
  const late = await lost.complete(interruptible.id, { result: 'success' });
  expect(late.status).toBe(409);
  expect(late.body.error?.code).toBe('not_assigned');
  expect(await s.getWorkRequest(interruptible.id)).toEqual(requeued);
  const lateOnAborted = await lost.complete(fragile.id, { result: 'success', output_data: { runtime_statistics: { duration: 5 } } });
  expect([200, 409]).toContain(lateOnAborted.status);
  expect(await s.getWorkRequest(fragile.id)).toEqual(aborted);

  // Its next heartbeat tells it to stop both.
  const heartbeat = expectStatus(await lost.heartbeat([interruptible.id, fragile.id]), 200, 'late heartbeat');
  expect([...heartbeat.body.cancel].sort((a, b) => a - b)).toEqual([interruptible.id, fragile.id]);
  const logAnswer = await lost.postLogs(interruptible.id, [{ seq: 5, text: 'late output' }]);
  expect(logAnswer.status).toBe(409);

  // Another worker picks the new attempt up; its log numbering continues after the system line.
  const rescuer = await s.registerWorker();
  const [again] = await rescuer.claimOk();
  expect(again).toMatchObject({ id: interruptible.id, attempt: 2, log_seq_start: 3 });
  expectStatus(await rescuer.complete(interruptible.id, { result: 'success' }), 200, 'complete attempt 2');
  expect(await s.getWorkRequest(interruptible.id)).toMatchObject({ status: 'completed', result: 'success', attempt: 2, worker: { id: rescuer.id } });
});

test('the housekeeping cron finds lost workers by itself and leaves heartbeating workers alone', async () => {
  server = await startTestServer({ heartbeatTimeoutS: 1, housekeepingIntervalS: 1 });
  const s = server;
  const lost = await s.registerWorker();
  const alive = await s.registerWorker();
  const abandoned = await s.createWorkRequest();
  expect((await lost.claimOk()).map((item) => item.id)).toEqual([abandoned.id]);
  const kept = await s.createWorkRequest();
  expect((await alive.claimOk()).map((item) => item.id)).toEqual([kept.id]);

  let beating = true;
  const heartbeats = (async () => {
    while (beating) {
      const answer = await alive.heartbeat([kept.id]);
      if (answer.status !== 200 || answer.body.cancel.length > 0) throw new Error(`heartbeat of the live worker: ${answer.status} ${answer.text}`);
      await sleep(200);
    }
  })();
  try {
    const requeued = await pollUntil(() => s.getWorkRequest(abandoned.id), {
      until: (request) => request.status === 'pending',
      description: 'the cron to requeue the abandoned request',
      timeoutMs: 20_000,
      intervalMs: 200,
    });
    expect(requeued.attempt).toBe(2);
    expect((await workerState(s, lost)).state).toBe('offline');
    // Two more sweeps go by while the live worker keeps heartbeating.
    await sleep(2_500);
    expect(await s.getWorkRequest(kept.id)).toMatchObject({ status: 'running', attempt: 1, worker: { id: alive.id } });
    expect((await workerState(s, alive)).state).toBe('busy');
  } finally {
    beating = false;
    await heartbeats;
  }
}, 60_000);

test('a lost worker that comes back is online again and gets work again', async () => {
  server = await startTestServer({ heartbeatTimeoutS: 1, housekeepingIntervalS: 59 });
  const s = server;
  const worker = await s.registerWorker();
  await waitUntilSilentFor(s, worker, 1.2);
  await s.runHousekeeping();
  expect((await workerState(s, worker)).state).toBe('offline');
  expectStatus(await worker.heartbeat([]), 200, 'heartbeat');
  expect((await workerState(s, worker)).state).toBe('idle');
  const request = await s.createWorkRequest();
  expect((await worker.claimOk()).map((item) => item.id)).toEqual([request.id]);
});

test('release by the assigned worker requeues an interruptible request (attempt + 1) and aborts the other', async () => {
  server = await startTestServer();
  const s = server;
  const leaving = await s.registerWorker({ concurrency: 2 });
  const interruptible = await s.createWorkRequest({ interrupt_allowed: true });
  const fragile = await s.createWorkRequest({ interrupt_allowed: false });
  expect(await leaving.claimOk({ max: 2 })).toHaveLength(2);

  const stranger = await s.registerWorker();
  const foreign = await stranger.release(interruptible.id, { reason: 'not mine' });
  expect(foreign.status).toBe(409);
  expect(foreign.body.error?.code).toBe('not_assigned');
  expect((await s.getWorkRequest(interruptible.id)).status).toBe('running');

  const released = expectStatus(await leaving.release(interruptible.id, { reason: 'worker shutting down' }), 200, 'release');
  expect(released.body).toMatchObject({ id: interruptible.id, status: 'pending', attempt: 2, worker: null });
  const stored = await s.getWorkRequest(interruptible.id);
  expect(stored).toMatchObject({ status: 'pending', attempt: 2, worker: null });
  expect(stored.state_reason).toContain('worker shutting down');
  const logs = await logsOf(s, interruptible.id);
  expect(logs.at(-1)).toMatchObject({ stream: 'system' });

  // Repeating the release is a no-op (attempt stays 2).
  expectStatus(await leaving.release(interruptible.id, { reason: 'worker shutting down' }), 200, 'repeated release');
  expect((await s.getWorkRequest(interruptible.id)).attempt).toBe(2);
  // The releasing worker is told to stop it; then it cannot complete it.
  expect((await leaving.heartbeat([interruptible.id])).body.cancel).toEqual([interruptible.id]);
  expect((await leaving.complete(interruptible.id, { result: 'success' })).status).toBe(409);

  const abortedAnswer = expectStatus(await leaving.release(fragile.id, { reason: 'worker shutting down' }), 200, 'release fragile');
  expect(abortedAnswer.body).toMatchObject({ status: 'aborted', result: 'error' });
  const aborted: WorkRequest = await s.getWorkRequest(fragile.id);
  expect(aborted.output_data?.errors?.[0]?.code).toBe('worker_shutdown');

  // Someone else runs the new attempt; the old worker's repeated release is now refused.
  const next = await s.registerWorker();
  expect(await next.claimOk()).toMatchObject([{ id: interruptible.id, attempt: 2 }]);
  const stale = await leaving.release(interruptible.id, { reason: 'again' });
  expect(stale.status).toBe(409);
  expect(await s.getWorkRequest(interruptible.id)).toMatchObject({ status: 'running', attempt: 2, worker: { id: next.id } });
});
