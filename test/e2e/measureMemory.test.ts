/**
 * Peak memory of a task as the worker reports it (output_data.runtime_statistics.memory), checked against the
 * allocation itself and against GNU `time -v` on the same command: it must be the task's own peak, not the
 * host's and not a sample that missed the peak.
 */
import type { RuntimeStatistics } from '../../protocol/outputData';
import type { WorkerProcess } from '../helpers/workerProcess';
import { cleanup, MiB, python3, startE2EServer, startWorker, task, timeMaxRssBytes, waitForEnd, withProcessLogs, type E2EServer } from './support';

let server: E2EServer;
let worker: WorkerProcess;
const python = python3();

beforeAll(async () => {
  server = await startE2EServer();
  worker = await startWorker(server);
}, 60_000);

afterAll(async () => {
  await cleanup(server);
});

/** Fields every measured run reports: how it was measured and the worker's state when the task started. */
function expectWorkerSnapshot(stats: RuntimeStatistics | undefined): void {
  expect(stats?.measurement).toMatch(/^(cgroup-v1|cgroup-v2|proc)$/);
  expect(stats?.available_memory).toBeGreaterThan(0);
  expect(stats?.available_disk_space).toBeGreaterThan(0);
  expect(stats?.cpu_count).toBeGreaterThanOrEqual(1);
}

describe.each([
  { label: '2 s', seconds: 2 },
  { label: '0.3 s', seconds: 0.3 },
])('memory of a task holding 200 MiB for $label', ({ seconds }) => {
  const args = ['-c', `b=bytearray(200*1024*1024); import time; time.sleep(${seconds})`];

  it('is at least the 200 MiB it touched and at most 1.10 × the max RSS that time -v reports', withProcessLogs(async () => {
    const reference = await timeMaxRssBytes(python, args);
    expect(reference).toBeGreaterThanOrEqual(200 * MiB); // the command does what this test needs

    const created = await server.client.createWorkRequest(task(python, args));
    const done = await waitForEnd(server.client, created.id, 45_000);
    expect(done).toMatchObject({ status: 'completed', result: 'success' });
    const stats = done.output_data?.runtime_statistics;
    process.stdout.write(
      `memory (${seconds} s, ${stats?.measurement}): reported ${stats?.memory} B = ${((stats?.memory ?? 0) / MiB).toFixed(1)} MiB; ` +
        `time -v max RSS ${reference} B = ${(reference / MiB).toFixed(1)} MiB; ratio ${((stats?.memory ?? 0) / reference).toFixed(3)}\n`,
    );
    expect(stats?.memory).toBeGreaterThanOrEqual(200 * MiB);
    expect(stats?.memory).toBeLessThanOrEqual(1.1 * reference);
    expectWorkerSnapshot(stats);
    expect(done.worker?.name).toBe(worker.options.name);
  }));
});
