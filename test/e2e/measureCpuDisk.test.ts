/**
 * CPU time and disk space of a task as the worker reports them: the task's own process tree (children
 * included), not the host's, and the peak size of its working directory.
 */
import type { WorkerProcess } from '../helpers/workerProcess';
import { cleanup, MiB, python3, shellTask, startE2EServer, startWorker, task, waitForEnd, withProcessLogs, type E2EServer } from './support';

let server: E2EServer;
let worker: WorkerProcess;
const python = python3();

/** Burns CPU until this process itself has used `seconds` of it, however busy the machine is. */
const burn = (seconds: number) => `import time\nwhile time.process_time() < ${seconds}: pass`;

beforeAll(async () => {
  server = await startE2EServer();
  worker = await startWorker(server);
}, 60_000);

afterAll(async () => {
  await cleanup(server);
});

describe('cpu_time', () => {
  it('is 2 s (±1) for a task that burns 2 s of CPU', withProcessLogs(async () => {
    const created = await server.client.createWorkRequest(task(python, ['-c', burn(2)]));
    const done = await waitForEnd(server.client, created.id, 45_000);
    expect(done).toMatchObject({ status: 'completed', result: 'success' });
    const stats = done.output_data?.runtime_statistics;
    process.stdout.write(`cpu burn of 2 s (${stats?.measurement}): cpu_time ${stats?.cpu_time} s, cpu_time_ms ${stats?.cpu_time_ms}, duration ${stats?.duration_ms} ms\n`);
    expect(stats?.cpu_time).toBeGreaterThanOrEqual(1);
    expect(stats?.cpu_time).toBeLessThanOrEqual(3);
    // Finer: what python counted for itself, plus its start-up.
    expect(stats?.cpu_time_ms).toBeGreaterThanOrEqual(1_950);
    expect(stats?.cpu_time_ms).toBeLessThanOrEqual(2_600);
    expect(stats?.measurement).toMatch(/^(cgroup-v1|cgroup-v2|proc)$/);
    expect(done.worker?.name).toBe(worker.options.name);
  }));

  it('counts the children of the task (two background burners of 1 s each)', withProcessLogs(async () => {
    const one = `'${python}' -c '${burn(1)}'`;
    const created = await server.client.createWorkRequest(shellTask(`${one} & ${one} & wait`));
    const done = await waitForEnd(server.client, created.id, 45_000);
    expect(done).toMatchObject({ status: 'completed', result: 'success' });
    const stats = done.output_data?.runtime_statistics;
    process.stdout.write(`two 1 s burners in the background: cpu_time_ms ${stats?.cpu_time_ms}\n`);
    expect(stats?.cpu_time_ms).toBeGreaterThanOrEqual(1_950);
    expect(stats?.cpu_time_ms).toBeLessThanOrEqual(2_800);
  }));

  it('is about 0 for a task that sleeps while the machine is busy (the task, not the host)', withProcessLogs(async () => {
    const created = await server.client.createWorkRequest(shellTask('sleep 2'));
    const done = await waitForEnd(server.client, created.id, 45_000);
    expect(done).toMatchObject({ status: 'completed', result: 'success' });
    const stats = done.output_data?.runtime_statistics;
    expect(stats?.cpu_time).toBe(0);
    expect(stats?.cpu_time_ms).toBeLessThan(300);
    expect(stats?.duration).toBeGreaterThanOrEqual(2);
    expect(stats?.memory).toBeLessThan(50 * MiB);
  }));
});

describe('disk_space', () => {
  it('is at least the 50 MiB a task wrote into its working directory', withProcessLogs(async () => {
    const created = await server.client.createWorkRequest(shellTask('dd if=/dev/zero of=f bs=1M count=50 2>/dev/null && ls -l f'));
    const done = await waitForEnd(server.client, created.id, 45_000);
    expect(done).toMatchObject({ status: 'completed', result: 'success' });
    const stats = done.output_data?.runtime_statistics;
    process.stdout.write(`disk: wrote 50 MiB, disk_space ${stats?.disk_space} B = ${((stats?.disk_space ?? 0) / MiB).toFixed(2)} MiB\n`);
    expect(stats?.disk_space).toBeGreaterThanOrEqual(50 * MiB);
    expect(stats?.disk_space).toBeLessThanOrEqual(55 * MiB); // the working directory, not the whole disk
    expect(stats?.measurement).toMatch(/^(cgroup-v1|cgroup-v2|proc)$/);
    expect(stats?.available_memory).toBeGreaterThan(0);
    expect(stats?.available_disk_space).toBeGreaterThan(50 * MiB);
    expect(stats?.cpu_count).toBeGreaterThanOrEqual(1);
  }));

  it('keeps the peak when the task deletes its files before it ends', withProcessLogs(async () => {
    const created = await server.client.createWorkRequest(shellTask('dd if=/dev/zero of=f bs=1M count=50 2>/dev/null && sleep 1 && rm f'));
    const done = await waitForEnd(server.client, created.id, 45_000);
    expect(done).toMatchObject({ status: 'completed', result: 'success' });
    expect(done.output_data?.runtime_statistics?.disk_space).toBeGreaterThanOrEqual(50 * MiB);
  }));
});
