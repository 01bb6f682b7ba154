/**
 * The server dies (kill -9) while a worker runs a task and comes back a few seconds later on the same database,
 * port and tokens. The worker keeps the task running, keeps its output and its result on disk, and delivers
 * them once the server is back: the request ends completed/success with its statistics and its whole log.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { WorkschedClient } from '../../client';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { pollUntil } from '../helpers/waitFor';
import { waitUntilWorkersSilent } from '../helpers/workerSilence';
import type { ManagedProcess, WorkerProcess } from '../helpers/workerProcess';
import {
  cleanup,
  freePort,
  logText,
  shellTask,
  sleep,
  startServerProcess,
  startWorker,
  taskProcesses,
  tmpDir,
  waitUntilTaskGone,
  waitForEnd,
  waitForRequest,
  withProcessLogs,
  type ServerProcessOptions,
} from './support';

const databases: TestDatabase[] = [];

afterAll(async () => {
  await cleanup(...databases.map((db) => ({ close: () => db.drop() })));
});

/** A fresh database and the options of a server process on it (fixed port and tokens, reused at restart). */
async function serverOptions(): Promise<ServerProcessOptions> {
  const db = await createTestDatabase();
  databases.push(db);
  return {
    port: await freePort(),
    dataDir: tmpDir('server'),
    databaseUrl: db.url,
    adminToken: `wsa_${randomBytes(16).toString('hex')}`,
    enrollmentToken: `wse_${randomBytes(16).toString('hex')}`,
  };
}

const LINES = 12; // one every 0.5 s: 6 s

describe('server outage during a task', () => {
  it('an outage longer than the heartbeat timeout does not requeue work that kept running', withProcessLogs(async () => {
    const options = { ...(await serverOptions()), heartbeatTimeoutS: 3 };
    const server: ManagedProcess = await startServerProcess(options);
    const url = `http://127.0.0.1:${options.port}`;
    const client = new WorkschedClient({ baseUrl: url, token: options.adminToken });
    const worker: WorkerProcess = await startWorker({ url, enrollmentToken: options.enrollmentToken });
    const created = await client.createWorkRequest({ ...shellTask('sleep 8'), interrupt_allowed: true });
    await waitForRequest(client, created.id, (request) => request.status === 'running', 'running', 20_000);

    server.signal('SIGKILL');
    await server.waitForExit(10_000);
    await waitUntilWorkersSilent(options.databaseUrl, 3.5); // longer than the 3 s heartbeat timeout
    await startServerProcess(options); // stopped with the test's other processes

    const done = await waitForEnd(client, created.id, 60_000);
    // Not killed and re-run: the same attempt finished on the same worker.
    expect(done).toMatchObject({ status: 'completed', result: 'success', attempt: 1, worker: { name: worker.options.name } });
  }), 120_000);

  it('the worker buffers logs and the result and delivers them after the server restarts', withProcessLogs(async () => {
    const options = await serverOptions();
    const server: ManagedProcess = await startServerProcess(options);
    const url = `http://127.0.0.1:${options.port}`;
    const client = new WorkschedClient({ baseUrl: url, token: options.adminToken });
    const worker: WorkerProcess = await startWorker({ url, enrollmentToken: options.enrollmentToken });

    const created = await client.createWorkRequest(
      shellTask(`i=1; while [ $i -le ${LINES} ]; do echo "line $i"; echo "warn $i" >&2; i=$((i+1)); sleep 0.5; done`),
    );
    // Some output reached the server before the outage, so the test covers both halves of the log.
    await waitForRequest(client, created.id, (request) => request.status === 'running', 'running', 20_000);
    const before = await waitForLogLine(client, created.id, 'line 2', 15_000);
    expect(before).toContain('line 1');

    server.signal('SIGKILL');
    expect(await server.waitForExit(10_000)).toMatchObject({ signal: 'SIGKILL' });
    const downAt = Date.now();
    await expect(client.health()).rejects.toThrow(/cannot reach/);
    await sleep(2_000);
    // The task did not notice: it still runs under the worker.
    expect(taskProcesses(created.id).length).toBeGreaterThan(0);
    expect(worker.alive).toBe(true);

    await startServerProcess(options); // stopped with the test's other processes
    process.stdout.write(`outage: server down for ${Date.now() - downAt} ms (restart included)\n`);

    const done = await waitForEnd(client, created.id, 60_000);
    expect(done).toMatchObject({ status: 'completed', result: 'success', attempt: 1, worker: { name: worker.options.name } });
    const stats = done.output_data?.runtime_statistics;
    expect(stats?.duration).toBeGreaterThanOrEqual(5);
    expect(stats?.duration).toBeLessThanOrEqual(30);
    expect(stats?.cpu_time).toBeDefined();
    expect(stats?.memory).toBeGreaterThan(0);
    expect(stats?.disk_space).toBeDefined();
    expect(stats?.measurement).toBeDefined();

    const log = await logText(client, created.id);
    expect(log.stdout.split('\n').filter(Boolean)).toEqual(Array.from({ length: LINES }, (_, index) => `line ${index + 1}`));
    expect(log.stderr.split('\n').filter(Boolean)).toEqual(Array.from({ length: LINES }, (_, index) => `warn ${index + 1}`));
    expect(new Set(log.seqs).size).toBe(log.seqs.length);

    // The worker is alive, heartbeating to the new server process, and takes new work.
    const next = await client.createWorkRequest(shellTask('echo after'));
    expect(await waitForEnd(client, next.id, 60_000)).toMatchObject({ status: 'completed', result: 'success' });
    const workers = await client.listWorkers();
    expect(workers.map((entry) => [entry.name, entry.state])).toEqual([[worker.options.name, 'idle']]);
  }), 120_000);

  it('a result reached while the server is down is kept on disk and delivered when it is back', withProcessLogs(async () => {
    const options = await serverOptions();
    const server = await startServerProcess(options);
    const url = `http://127.0.0.1:${options.port}`;
    const client = new WorkschedClient({ baseUrl: url, token: options.adminToken });
    const worker = await startWorker({ url, enrollmentToken: options.enrollmentToken });

    const created = await client.createWorkRequest(shellTask('for i in 1 2 3 4 5 6; do echo "line $i"; sleep 0.5; done; exit 3'));
    await waitForLogLine(client, created.id, 'line 1', 20_000);
    server.signal('SIGKILL');
    await server.waitForExit(10_000);
    // The task ends during the outage: the worker cannot report it and must keep it.
    await waitUntilTaskGone(created.id, 20_000);
    await worker.waitForLine((line) => line.includes('cannot deliver the result yet') && line.includes(`"workRequest":${created.id}`), 20_000);
    expect(fs.existsSync(path.join(worker.options.workDir, '.state', 'outbox', `${created.id}.json`))).toBe(true);

    await startServerProcess(options); // stopped with the test's other processes
    const done = await waitForEnd(client, created.id, 60_000);
    expect(done).toMatchObject({ status: 'completed', result: 'failure', attempt: 1 });
    expect(done.output_data?.errors?.[0]).toMatchObject({ code: 'exit_code', exit_code: 3 });
    expect(done.output_data?.runtime_statistics?.duration).toBeGreaterThanOrEqual(2);
    const log = await logText(client, created.id);
    expect(log.stdout.split('\n').filter(Boolean)).toEqual(['line 1', 'line 2', 'line 3', 'line 4', 'line 5', 'line 6']);
    await pollUntil(() => !fs.existsSync(path.join(worker.options.workDir, '.state', 'outbox', `${created.id}.json`)), {
      description: 'the outbox file to be removed once delivered',
      timeoutMs: 10_000,
    });
  }), 120_000);

  it('a queued result survives a worker restart during the outage', withProcessLogs(async () => {
    const options = await serverOptions();
    const server = await startServerProcess(options);
    const url = `http://127.0.0.1:${options.port}`;
    const client = new WorkschedClient({ baseUrl: url, token: options.adminToken });
    const worker = await startWorker({ url, enrollmentToken: options.enrollmentToken });
    const { name, workDir } = worker.options;

    const created = await client.createWorkRequest(shellTask('for i in 1 2 3 4; do echo "line $i"; sleep 0.5; done'));
    await waitForLogLine(client, created.id, 'line 1', 20_000);
    server.signal('SIGKILL');
    await server.waitForExit(10_000);
    await waitUntilTaskGone(created.id, 20_000);
    await worker.waitForLine((line) => line.includes('cannot deliver the result yet'), 20_000);
    // The worker stops while the server is still down: the report stays on disk.
    expect(await worker.stop('SIGTERM', 30_000)).toEqual({ code: 0, signal: null });

    await startServerProcess(options); // stopped with the test's other processes
    // Nothing delivered it yet: the request still runs as far as the server knows.
    expect((await client.getWorkRequest(created.id)).status).toBe('running');
    await startWorker({ url, enrollmentToken: options.enrollmentToken }, { name, workDir });
    const done = await waitForEnd(client, created.id, 60_000);
    expect(done).toMatchObject({ status: 'completed', result: 'success', attempt: 1, worker: { name } });
    const log = await logText(client, created.id);
    expect(log.stdout.split('\n').filter(Boolean)).toEqual(['line 1', 'line 2', 'line 3', 'line 4']);
  }), 120_000);
});

async function waitForLogLine(client: WorkschedClient, id: number, line: string, timeoutMs: number): Promise<string> {
  return pollUntil(async () => (await logText(client, id)).stdout, {
    until: (stdout) => stdout.split('\n').includes(line),
    description: `"${line}" in the stored log of ${id}`,
    timeoutMs,
  });
}
