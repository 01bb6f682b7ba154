/**
 * The worker's own log cap (--log-max): past it a single `system` line says the log was truncated and the
 * worker ships nothing more of that task, which runs on to its end.
 */
import type { WorkerProcess } from '../helpers/workerProcess';
import { cleanup, logText, shellTask, startE2EServer, startWorker, waitForEnd, withProcessLogs, type E2EServer } from './support';

const CAP = 64 * 1024;
let server: E2EServer;
let worker: WorkerProcess;

beforeAll(async () => {
  server = await startE2EServer();
  worker = await startWorker(server, { extraArgs: ['--log-max', '64KiB'] });
}, 60_000);
afterAll(() => cleanup(server));

test('a task printing 1 MiB ships at most --log-max of it, then one system line; the task still completes', withProcessLogs(async () => {
  const created = await server.client.createWorkRequest(shellTask('head -c 1048576 /dev/zero | tr "\\0" x; echo; echo after-the-cap; exit 0'));
  const done = await waitForEnd(server.client, created.id);
  expect({ result: done.result, worker: done.worker?.name }).toEqual({ result: 'success', worker: worker.options.name });
  const { entries } = await server.client.getLogs(created.id, { limit: 100_000 });
  const shipped = entries.filter((entry) => entry.stream !== 'system').reduce((sum, entry) => sum + Buffer.byteLength(entry.text), 0);
  expect(shipped).toBeLessThanOrEqual(CAP);
  // Up to the cap, less room kept for the note and the worker's own first system lines.
  expect(shipped).toBeGreaterThanOrEqual(CAP - 8192);
  const truncation = entries.filter((entry) => /log truncated/.test(entry.text));
  expect(truncation).toHaveLength(1);
  expect(truncation[0]).toMatchObject({ stream: 'system' });
  expect(truncation[0].text).toMatch(/cap of 64\.0 KiB; the worker stops shipping it/);
  expect(entries[entries.length - 1]).toBe(truncation[0]);
  expect((await logText(server.client, created.id)).stdout).not.toContain('after-the-cap');
}), 60_000);
