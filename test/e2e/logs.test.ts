/**
 * Following a task's output live (seed 003: "log streaming over chunked HTTP within seconds"): the first lines
 * arrive while the task still runs, every line arrives once and in order, stderr is told apart, and the stream
 * ends by itself when the request ends.
 */
import type { LogEntry } from '../../protocol/workRequest';
import type { WorkerProcess } from '../helpers/workerProcess';
import { cleanup, shellTask, startE2EServer, startWorker, waitForEnd, withProcessLogs, type E2EServer } from './support';

let server: E2EServer;
let worker: WorkerProcess;

beforeAll(async () => {
  server = await startE2EServer();
  worker = await startWorker(server);
}, 60_000);

afterAll(async () => {
  await cleanup(server);
});

/** 15 stdout lines and 15 stderr lines, one of each every 200 ms (3 s). */
const SCRIPT = 'i=1; while [ $i -le 15 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); sleep 0.2; done';
const expectedLines = (prefix: string) => Array.from({ length: 15 }, (_, index) => `${prefix} ${index + 1}`);

describe('following logs', () => {
  it('streams lines while the task runs and ends when it completes', withProcessLogs(async () => {
    const created = await server.client.createWorkRequest(shellTask(SCRIPT));
    const followStarted = Date.now();
    const entries: LogEntry[] = [];
    let statusAtFirstLine: string | undefined;
    let firstLineAfterMs: number | undefined;
    const abort = new AbortController();
    const guard = setTimeout(() => abort.abort(), 45_000);
    try {
      for await (const entry of server.client.followLogs(created.id, { signal: abort.signal })) {
        entries.push(entry);
        if (statusAtFirstLine === undefined && entry.stream === 'stdout') {
          firstLineAfterMs = Date.now() - followStarted;
          statusAtFirstLine = (await server.client.getWorkRequest(created.id)).status;
        }
      }
    } finally {
      clearTimeout(guard);
    }
    expect(abort.signal.aborted).toBe(false); // the stream ended by itself
    const streamEndedAt = Date.now();
    process.stdout.write(`logs: first stdout entry ${firstLineAfterMs} ms after following began; stream ended after ${streamEndedAt - followStarted} ms\n`);
    expect(statusAtFirstLine).toBe('running');

    // The stream ends only once the request has ended.
    const done = await server.client.getWorkRequest(created.id);
    expect(done).toMatchObject({ status: 'completed', result: 'success' });

    const text = (stream: LogEntry['stream']) => entries.filter((entry) => entry.stream === stream).map((entry) => entry.text).join('');
    expect(text('stdout').split('\n').filter(Boolean)).toEqual(expectedLines('out'));
    expect(text('stderr').split('\n').filter(Boolean)).toEqual(expectedLines('err'));
    // Numbered without gaps or repeats, in order.
    const seqs = entries.map((entry) => entry.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);

    // What was streamed is what is stored.
    const stored = await server.client.getLogs(created.id);
    expect(stored.entries.map((entry) => entry.seq)).toEqual(seqs);
  }));

  it('following a request that already ended returns its whole log and ends at once', withProcessLogs(async () => {
    const created = await server.client.createWorkRequest(shellTask('echo one; echo two >&2; echo three'));
    await waitForEnd(server.client, created.id);
    const started = Date.now();
    const entries: LogEntry[] = [];
    for await (const entry of server.client.followLogs(created.id)) entries.push(entry);
    expect(Date.now() - started).toBeLessThan(5_000);
    const stdout = entries.filter((entry) => entry.stream === 'stdout').map((entry) => entry.text).join('');
    const stderr = entries.filter((entry) => entry.stream === 'stderr').map((entry) => entry.text).join('');
    expect(stdout).toBe('one\nthree\n');
    expect(stderr).toBe('two\n');
    expect(worker.alive).toBe(true);
  }));
});
