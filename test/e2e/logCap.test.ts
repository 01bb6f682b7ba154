/**
 * Caps seen from a real worker: its own log cap (--log-max), past which a single `system` line says the log was
 * truncated and it ships nothing more of that task, which runs on to its end; and a result over the server's
 * output_data cap, which the worker then reports without it (an error saying why, the statistics kept).
 */
import type { WorkerProcess } from '../helpers/workerProcess';
import { cleanup, logText, shellTask, startE2EServer, startWorker, waitForEnd, withProcessLogs, type E2EServer } from './support';

const CAP = 64 * 1024;
let server: E2EServer;
let worker: WorkerProcess;

beforeAll(async () => {
  server = await startE2EServer({ maxOutputData: 16 * 1024 });
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

test('a result over the server\'s output_data cap ends the request as an error saying so, with its statistics', withProcessLogs(async () => {
  const created = await server.client.createWorkRequest(
    shellTask('printf \'{"blob":"%s"}\' "$(head -c 40000 /dev/zero | tr "\\0" x)" > "$WORKSCHED_RESULT_FILE"', { max_attempts: 1 }),
  );
  const done = await waitForEnd(server.client, created.id);
  expect({ status: done.status, result: done.result, code: done.output_data?.errors?.[0]?.code }).toEqual({ status: 'completed', result: 'error', code: 'output_data_too_large' });
  expect(done.output_data?.errors?.[0]?.message).toMatch(/at most 16\.0 KiB/);
  expect(done.output_data?.result).toBeUndefined();
  expect(done.output_data?.runtime_statistics?.duration_ms).toEqual(expect.any(Number));
}), 60_000);
