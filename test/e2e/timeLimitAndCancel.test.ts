/**
 * Stopping a task from outside: its time limit, and a user's cancel. Either way nothing of the task may keep
 * running (tasks here start a background child too, which a kill of the main process alone would miss).
 */
import { describePids, type WorkerProcess } from '../helpers/workerProcess';
import { cleanup, shellTask, startServerAndWorker, taskProcesses, waitForTaskProcesses, waitUntilTaskGone, waitForEnd, waitForRequest, withProcessLogs, type E2EServer } from './support';

let server: E2EServer;
let worker: WorkerProcess;

beforeAll(async () => ({ server, worker } = await startServerAndWorker({ concurrency: 2 })), 60_000);
afterAll(() => cleanup(server));

describe('time limit', () => {
  it('a task over its time limit is killed, with its children, and fails with time_limit_exceeded', withProcessLogs(async () => {
    const created = await server.client.createWorkRequest(shellTask('sleep 60 & sleep 60', { time_limit: 2 }));
    // Both shells' sleeps run: the task really started a child of its own.
    await waitForTaskProcesses(created.id, 20_000, 2); // the shell (or the sleep it execs) and the background sleep

    const done = await waitForEnd(server.client, created.id, 30_000);
    expect(done).toMatchObject({ status: 'completed', result: 'failure' });
    expect(done.output_data?.errors?.[0]).toMatchObject({ code: 'time_limit_exceeded' });
    const ranMs = Date.parse(done.completed_at!) - Date.parse(done.started_at!);
    expect(ranMs).toBeGreaterThanOrEqual(2_000);
    expect(ranMs).toBeLessThan(5_000);
    const stats = done.output_data?.runtime_statistics;
    expect(stats?.duration).toBeGreaterThanOrEqual(2);
    expect(stats?.duration).toBeLessThanOrEqual(4);

    const left = taskProcesses(created.id);
    expect(describePids(left)).toBe('');
  }));
});

describe('cancel', () => {
  it('cancelling a running task kills all its processes within 2 s and leaves the request aborted', withProcessLogs(async () => {
    const created = await server.client.createWorkRequest(shellTask('sleep 60 & sleep 60'));
    await waitForRequest(server.client, created.id, (request) => request.status === 'running', 'running', 20_000);
    await waitForTaskProcesses(created.id, 20_000, 2);

    const cancelledAt = performance.now();
    const answer = await server.client.cancel(created.id);
    expect(answer.status).toBe('aborted');
    const goneAfterMs = await waitUntilTaskGone(created.id, 5_000);
    const latencyMs = performance.now() - cancelledAt;
    process.stdout.write(`cancel latency: processes gone ${Math.round(latencyMs)} ms after the cancel call (${Math.round(goneAfterMs)} ms after its answer)\n`);
    expect(latencyMs).toBeLessThanOrEqual(2_000);

    const done = await waitForEnd(server.client, created.id);
    expect(done.status).toBe('aborted');
    expect(done.result).not.toBe('success');
    // The worker is free again and takes new work.
    const next = await server.client.createWorkRequest(shellTask('exit 0'));
    expect(await waitForEnd(server.client, next.id)).toMatchObject({ status: 'completed', result: 'success', worker: { name: worker.options.name } });
  }));

  it('cancelling a pending request aborts it at once and it never runs', withProcessLogs(async () => {
    // Fill both slots so the third request has to wait.
    const blockers = await Promise.all([0, 1].map(() => server.client.createWorkRequest(shellTask('sleep 60'))));
    for (const blocker of blockers) await waitForRequest(server.client, blocker.id, (request) => request.status === 'running', 'running', 20_000);
    const waiting = await server.client.createWorkRequest(shellTask('echo should never run'));
    expect((await server.client.getWorkRequest(waiting.id)).status).toBe('pending');
    const answer = await server.client.cancel(waiting.id);
    expect(answer.status).toBe('aborted');
    for (const blocker of blockers) await server.client.cancel(blocker.id);
    for (const blocker of blockers) await waitUntilTaskGone(blocker.id, 5_000);
    // The freed slots must not pick up the cancelled request.
    const probe = await server.client.createWorkRequest(shellTask('exit 0'));
    await waitForEnd(server.client, probe.id);
    const after = await server.client.getWorkRequest(waiting.id);
    expect(after).toMatchObject({ status: 'aborted', worker: null, started_at: null });
    expect((await server.client.getLogs(waiting.id)).entries.filter((entry) => entry.stream !== 'system')).toEqual([]);
  }));
});
