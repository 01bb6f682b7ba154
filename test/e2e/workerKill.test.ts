/**
 * A worker killed with kill -9 while it runs a task: its task spawner kills the task (no process outlives its
 * worker), the server notices the silence after the heartbeat timeout and requeues the request as attempt 2,
 * and another worker completes it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pollUntil } from '../helpers/waitFor';
import { describePids } from '../helpers/workerProcess';
import { cleanup, logText, removeTaskCgroups, taskProcesses, waitForTaskProcesses, waitUntilTaskGone, shellTask, startE2EServer, startWorker, tmpDir, waitForEnd, waitForRequest, withProcessLogs, type E2EServer } from './support';

const HEARTBEAT_TIMEOUT_S = 3;
let server: E2EServer;
const killedRequests: number[] = [];

beforeAll(async () => {
  server = await startE2EServer({ heartbeatTimeoutS: HEARTBEAT_TIMEOUT_S });
}, 60_000);

afterAll(async () => {
  // Tidy the cgroups of the runs whose worker was killed (the worker would do it itself 10 minutes later).
  for (const id of killedRequests) await removeTaskCgroups(server.client, id).catch(() => undefined);
  await cleanup(server);
});

describe('worker killed with kill -9', () => {
  it('leaves no task process behind, and the request is requeued and completed by another worker', withProcessLogs(async () => {
    const first = await startWorker(server, { concurrency: 1 });
    const marker = path.join(tmpDir('marker'), 'MARKER');
    // Attempt 1 leaves the marker and hangs (with a background child); attempt 2 finds it and succeeds.
    const created = await server.client.createWorkRequest(
      shellTask(`if [ -e '${marker}' ]; then echo "second attempt"; exit 0; else touch '${marker}'; sleep 120 & sleep 120; fi`, {
        interrupt_allowed: true,
        max_attempts: 3,
      }),
    );
    await waitForRequest(server.client, created.id, (request) => request.status === 'running', 'running', 20_000);
    // Two processes may be the shell and its `touch`: the marker is there once the task reached its sleeps.
    await waitForTaskProcesses(created.id, 20_000, 2);
    await pollUntil(() => fs.existsSync(marker), { description: 'attempt 1 to leave its marker', timeoutMs: 10_000 });
    // Let the first log batch reach the server (it names the task's cgroup, which afterAll tidies).
    await waitForLogEntries(server.client, created.id, 10_000);

    killedRequests.push(created.id);
    first.signal('SIGKILL'); // the worker process only, not its group: the tasks are in their own groups anyway
    const killedAt = performance.now();
    expect(await first.waitForExit(10_000)).toMatchObject({ signal: 'SIGKILL' });
    const goneMs = await waitUntilTaskGone(created.id, 3_000).catch((error: Error) => {
      throw new Error(`${error.message} (the task spawner did not act)`);
    });
    process.stdout.write(`worker kill -9: task processes gone ${Math.round(performance.now() - killedAt)} ms after the kill (${Math.round(goneMs)} ms polling)\n`);

    // After the heartbeat timeout the server gives the request back to the queue as attempt 2.
    const requeued = await waitForRequest(server.client, created.id, (request) => request.status === 'pending', 'requeued (pending)', 20_000);
    expect(requeued).toMatchObject({ attempt: 2, worker: null });
    expect(requeued.state_reason).toMatch(/heartbeat|lost/i);
    const workers = await server.client.listWorkers();
    expect(workers.find((worker) => worker.name === first.options.name)?.state).toBe('offline');
    expect(describePids(taskProcesses(created.id))).toBe('');

    const second = await startWorker(server, { concurrency: 1 });
    const done = await waitForEnd(server.client, created.id, 30_000);
    expect(done).toMatchObject({ status: 'completed', result: 'success', attempt: 2, worker: { name: second.options.name } });
    expect((await logText(server.client, created.id)).stdout).toContain('second attempt');
  }), 90_000);
});

async function waitForLogEntries(client: E2EServer['client'], id: number, timeoutMs: number): Promise<void> {
  await pollUntil(async () => (await client.getLogs(id)).entries.length > 0, { description: `a log entry of ${id} to reach the server`, timeoutMs });
}
