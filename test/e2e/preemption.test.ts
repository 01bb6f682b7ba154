/**
 * Preemption with a real worker (WORKSCHED_PREEMPT_AFTER_S=1): a high-priority request that waits on a full
 * worker preempts the low-priority interruptible request running there, which goes back to pending with the
 * reason, same attempt, no history row, and later completes once; a request with interrupt_allowed: false is
 * never preempted.
 */
import { pollUntil } from '../helpers/waitFor';
import { cleanup, logText, shellTask, startE2EServer, startWorker, uniqueName, waitForEnd, withProcessLogs, type E2EServer } from './support';

jest.setTimeout(90_000);

let server: E2EServer | undefined;
afterEach(async () => {
  await cleanup(server);
  server = undefined;
});

test(
  'a high-priority request on a full worker preempts the low-priority interruptible one, which is requeued with the reason and completes once',
  withProcessLogs(async () => {
    server = await startE2EServer({ preemptAfterS: 1 });
    await startWorker(server, { concurrency: 1, killGraceS: 5 });
    const { client } = server;
    const lowName = uniqueName('preempt-low');
    // The preempting one runs 2 s: the preempted one is pending at least that long, long enough to be seen.
    const low = await client.createWorkRequest(shellTask('sleep 3', { task_name: lowName, priority: 0 }));
    await pollUntil(() => client.getWorkRequest(low.id), { until: (request) => request.status === 'running', description: 'the low-priority request to run' });
    const high = await client.createWorkRequest(shellTask('sleep 2', { task_name: uniqueName('preempt-high'), priority: 10 }));

    const requeued = await pollUntil(() => client.getWorkRequest(low.id), {
      until: (request) => request.status === 'pending' || request.status === 'completed',
      description: 'the low-priority request to be preempted',
      intervalMs: 20,
    });
    expect(requeued).toMatchObject({ status: 'pending', attempt: 1, worker: null, state_reason: `preempted by #${high.id} (priority 10)` });

    const highDone = await waitForEnd(client, high.id);
    expect(highDone.result).toBe('success');
    const lowDone = await waitForEnd(client, low.id);
    expect(lowDone).toMatchObject({ status: 'completed', result: 'success', attempt: 1, supersedes: null });
    // The freed slot went to the preempting request before the preempted one ran again.
    expect(Date.parse(lowDone.started_at!)).toBeGreaterThanOrEqual(Date.parse(highDone.started_at!));
    // One history row: the interrupted run was neither a failure nor a cancel.
    const history = await client.getTaskStatisticsFor(lowName);
    expect(history.recent_runs.map((run) => run.result)).toEqual(['success']);
    expect(history.total).toMatchObject({ runs: 1, failures: 0 });
    const { system } = await logText(client, low.id);
    expect(system).toContain(`preempted by #${high.id} (priority 10): requeued as pending (same attempt); the worker was asked to stop it`);
  }),
);

test(
  'a running request with interrupt_allowed: false is never preempted; the high-priority one waits for it',
  withProcessLogs(async () => {
    server = await startE2EServer({ preemptAfterS: 1 });
    await startWorker(server, { concurrency: 1 });
    const { client } = server;
    const pinned = await client.createWorkRequest(shellTask('sleep 3', { task_name: uniqueName('preempt-pinned'), priority: 0, interrupt_allowed: false }));
    await pollUntil(() => client.getWorkRequest(pinned.id), { until: (request) => request.status === 'running', description: 'the pinned request to run' });
    const high = await client.createWorkRequest(shellTask('true', { task_name: uniqueName('preempt-high'), priority: 10 }));
    // Until it ends (about 2 s past the preemption delay, several housekeeping passes), it stays running.
    const seen = new Set<string>();
    const done = await pollUntil(
      async () => {
        const request = await client.getWorkRequest(pinned.id);
        seen.add(request.status);
        return request;
      },
      { until: (request) => request.status === 'completed' || request.status === 'aborted', description: 'the pinned request to end', intervalMs: 50 },
    );
    expect([...seen]).toEqual(['running', 'completed']);
    expect(done).toMatchObject({ result: 'success', attempt: 1, state_reason: null });
    const highDone = await waitForEnd(client, high.id);
    expect(highDone.result).toBe('success');
    expect(Date.parse(highDone.started_at!)).toBeGreaterThanOrEqual(Date.parse(done.completed_at!));
  }),
);
