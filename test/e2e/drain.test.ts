/**
 * SIGTERM to a worker drains it: no new work, running tasks finish and are reported, then it exits 0. With a
 * drain timeout, tasks still running at the deadline are killed and handed back to the server (requeued when
 * they may be interrupted, aborted otherwise).
 */
import { cleanup, logText, taskProcesses, waitForTaskProcesses, waitUntilTaskGone, shellTask, sleep, startE2EServer, startWorker, waitForEnd, waitForRequest, withProcessLogs, type E2EServer } from './support';

let server: E2EServer;

beforeAll(async () => {
  server = await startE2EServer();
}, 60_000);

afterAll(async () => {
  await cleanup(server);
});

describe('SIGTERM drains the worker', () => {
  it('finishes the running task, reports it, claims nothing new and exits 0', withProcessLogs(async () => {
    // Two slots: while the task runs, a long-poll claim for the free slot is in flight when SIGTERM comes.
    const worker = await startWorker(server, { concurrency: 2 });
    const running = await server.client.createWorkRequest(shellTask('echo begin; sleep 3; echo end'));
    await waitForRequest(server.client, running.id, (request) => request.status === 'running', 'running', 20_000);
    await waitForTaskProcesses(running.id, 10_000);
    await sleep(300); // the worker is back in its long-poll for the second slot

    worker.signal('SIGTERM');
    // Created once the drain has begun (its long-poll is aborted): a request created while the signal is still
    // on its way may be answered to that long-poll, and a claim answer lost in a hang-up is the claim grace's
    // and lost-worker sweep's business, not the drain's (it would run here, or strand as a second attempt).
    await worker.waitForLine(/stopping: no new work/, 10_000);
    const late = await server.client.createWorkRequest(shellTask('echo must not run'));

    const exit = await worker.waitForExit(30_000);
    expect(exit).toEqual({ code: 0, signal: null });
    const done = await server.client.getWorkRequest(running.id);
    expect(done).toMatchObject({ status: 'completed', result: 'success', attempt: 1 });
    expect(done.output_data?.runtime_statistics?.duration).toBeGreaterThanOrEqual(2);
    expect((await logText(server.client, running.id)).stdout).toBe('begin\nend\n');

    await sleep(1_000); // a claim the server made for the departed worker would show by now
    const notClaimed = await server.client.getWorkRequest(late.id);
    expect(notClaimed).toMatchObject({ status: 'pending', attempt: 1, worker: null, started_at: null });
    await server.client.cancel(late.id); // not for the next test's worker
  }), 60_000);

  it('with --drain-timeout 1, kills a long task after ~1 s and requeues it when interrupt_allowed is true', withProcessLogs(async () => {
    const worker = await startWorker(server, { concurrency: 1, drainTimeoutS: 1 });
    const created = await server.client.createWorkRequest(shellTask('sleep 60 & sleep 60', { interrupt_allowed: true }));
    await waitForRequest(server.client, created.id, (request) => request.status === 'running', 'running', 20_000);
    await waitForTaskProcesses(created.id, 10_000, 2);

    const signalledAt = performance.now();
    worker.signal('SIGTERM');
    await waitUntilTaskGone(created.id, 10_000);
    const killedAfterMs = performance.now() - signalledAt;
    const exit = await worker.waitForExit(30_000);
    const exitedAfterMs = performance.now() - signalledAt;
    process.stdout.write(`drain timeout 1 s: task gone ${Math.round(killedAfterMs)} ms after SIGTERM, worker exited after ${Math.round(exitedAfterMs)} ms\n`);
    expect(killedAfterMs).toBeGreaterThanOrEqual(900);
    expect(killedAfterMs).toBeLessThan(4_000);
    expect(exit).toEqual({ code: 0, signal: null });

    const requeued = await waitForRequest(server.client, created.id, (request) => request.status === 'pending', 'requeued (pending)', 10_000);
    expect(requeued).toMatchObject({ attempt: 2, worker: null, result: null });
    expect(taskProcesses(created.id)).toEqual([]);
    await server.client.cancel(created.id); // not for the next test's worker
  }), 60_000);

  it('with --drain-timeout 1, a task that may not be interrupted is killed and aborted', withProcessLogs(async () => {
    const worker = await startWorker(server, { concurrency: 1, drainTimeoutS: 1 });
    const created = await server.client.createWorkRequest(shellTask('sleep 60 & sleep 60', { interrupt_allowed: false }));
    await waitForRequest(server.client, created.id, (request) => request.status === 'running', 'running', 20_000);
    await waitForTaskProcesses(created.id, 10_000, 2);

    worker.signal('SIGTERM');
    await waitUntilTaskGone(created.id, 10_000);
    expect(await worker.waitForExit(30_000)).toEqual({ code: 0, signal: null });

    const done = await waitForEnd(server.client, created.id, 10_000);
    expect(done).toMatchObject({ status: 'aborted', attempt: 1 });
    expect(done.result).not.toBe('success');
    expect(done.output_data?.errors?.[0]).toMatchObject({ code: 'worker_shutdown' });
  }), 60_000);
});
