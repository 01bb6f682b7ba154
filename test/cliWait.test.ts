/**
 * `worksched submit --wait` end to end: a real server, a real worker agent process, the real CLI. It follows a
 * retried failure to the attempt that succeeded, gives up on an unschedulable request at --timeout with the
 * reason, streams the task's output with --logs, and shows a status line only on a terminal.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ESC } from './helpers/ansi';
import { startTestServer, uniqueTaskName, type TestServer } from './helpers/server';
import { runCli, runCliInTerminal, startCli, visibleLines, type CliOptions } from './helpers/cli';
import { killAllStartedProcesses, startWorkerProcess, type WorkerProcess } from './helpers/workerProcess';

jest.setTimeout(120_000);

let server: TestServer;
let worker: WorkerProcess;
let scratch: string;

beforeAll(async () => {
  // A short back-off, so a retry runs within a second.
  server = await startTestServer({ retryBaseDelayS: 0.5, retryMaxDelayS: 1 });
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'worksched-cli-wait-'));
  fs.chmodSync(scratch, 0o777); // the tasks, run as unprivileged users, leave their markers here
  worker = startWorkerProcess({ server: server.url, name: 'wait-agent', workDir: path.join(scratch, 'work'), enrollmentToken: server.enrollmentToken, concurrency: 2 });
  await worker.ready();
});

afterAll(async () => {
  await worker?.stop();
  await killAllStartedProcesses();
  await server?.close();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

function cliOptions(extra: Record<string, string> = {}): CliOptions {
  return { env: { WORKSCHED_URL: server.url, WORKSCHED_TOKEN: server.clientToken, WORKSCHED_DATA_DIR: path.join(scratch, 'no-credentials'), ...extra } };
}

/** Exits 0 when the file named by $1 exists; otherwise creates it and exits 3: fails once, then succeeds. */
const FAILS_ONCE = ['/bin/sh', '-c', 'if [ -e "$1" ]; then exit 0; fi; touch "$1"; exit 3', 'sh'];

describe('submit --wait', () => {
  test('a failure the scheduler retries is followed to the retry: a note on the way, exit 0 when it succeeds', async () => {
    const taskName = uniqueTaskName('flaky');
    const marker = path.join(scratch, `${taskName}.ok`);
    // History first: only a key that succeeded before is retried.
    fs.writeFileSync(marker, '');
    const seeded = await runCli(['submit', '--wait', '--task-name', taskName, '--', ...FAILS_ONCE, marker], cliOptions());
    expect(seeded.stderr).toBe('');
    expect(seeded.code).toBe(0);

    fs.rmSync(marker);
    const result = await runCli(['submit', '--wait', '--task-name', taskName, '--', ...FAILS_ONCE, marker], cliOptions());
    const first = Number(/^created work request (\d+)/.exec(result.stdout)?.[1]);
    const failed = await server.getWorkRequest(first);
    expect(failed).toMatchObject({ status: 'completed', result: 'failure', attempt: 1, superseded_by: expect.any(Number) });
    const retry = failed.superseded_by!;
    expect(await server.getWorkRequest(retry)).toMatchObject({ status: 'completed', result: 'success', attempt: 2, supersedes: first });

    expect(result.code).toBe(0);
    // The back-off is 0.5 s: on a loaded machine it may be over by the time the note is written ("now").
    expect(result.stderr).toMatch(new RegExp(`^attempt 1 failed \\(exit 3\\); retrying as #${retry} (in 0\\.\\d s|now)\\n$`));
    expect(result.stdout.trimEnd().split('\n')).toEqual([
      `created work request ${first} (${taskName}, pending)`,
      expect.stringMatching(new RegExp(`^work request ${retry} completed/success after \\S+ \\(attempt 2 of 3, retry of #${first}\\)$`)),
    ]);
    // Piped: no status line, no terminal codes.
    expect(result.stdout + result.stderr).not.toMatch(new RegExp(`[\r${ESC}]`));
  });

  test('the end is reported as soon as the server has it (long-poll, not a backing-off poll)', async () => {
    const running = startCli(['submit', '--wait', '--task-name', uniqueTaskName('quick'), '--', '/bin/sleep', '2.4'], cliOptions());
    const result = await running.done;
    expect(result.code).toBe(0);
    const id = Number(/^created work request (\d+)/.exec(result.stdout)?.[1]);
    const completedAt = Date.parse((await server.getWorkRequest(id)).completed_at!);
    const reportedAt = running.stdoutChunks.find((chunk) => chunk.text.includes(`work request ${id} completed/success`))!.at;
    process.stdout.write(`submit --wait: final line ${reportedAt - completedAt} ms after completed_at\n`);
    expect(reportedAt - completedAt).toBeLessThan(1_000);
  });

  test('--timeout on an unschedulable request exits 124 with the reason; the request stays queued', async () => {
    // 4 TiB: more than any machine that runs these tests.
    const result = await runCli(['submit', '--task-name', uniqueTaskName('huge'), '--memory', '4096GiB', '--timeout', '2s', '--', '/bin/true'], cliOptions());
    const id = Number(/^created work request (\d+)/.exec(result.stdout)?.[1]);
    expect(result.code).toBe(124);
    expect(result.elapsedMs).toBeGreaterThanOrEqual(2_000);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^work request ${id} is pending: cannot run on any registered worker: needs 4\\.0 TiB memory; the largest worker has [\\d.]+ [GM]iB$`));
    expect(lines[1]).toMatch(new RegExp(`^worksched: gave up waiting after 2s: work request ${id} is still pending: cannot run on any registered worker: needs 4\\.0 TiB memory.*; it stays queued \\(stop it with \`worksched cancel ${id}\`\\)$`));
    expect((await server.getWorkRequest(id)).status).toBe('pending');
    await server.client(server.adminToken).cancel(id);
  });

  test('a bad --timeout is refused before anything is created', async () => {
    const taskName = uniqueTaskName('never-created');
    const result = await runCli(['submit', '--task-name', taskName, '--timeout', 'soon', '--', '/bin/true'], cliOptions());
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('worksched: --timeout must be a positive duration such as 30, 90s, 15m or 2h, got "soon"\n');
    expect((await server.client().listWorkRequests({ task_name: taskName })).work_requests).toHaveLength(0);
  });

  test('--logs prints the task output while waiting: its stdout on stdout, stderr and worker notes on stderr', async () => {
    const result = await runCli(['submit', '--logs', '--task-name', uniqueTaskName('talk'), '--', '/bin/sh', '-c', 'echo out one; echo err one >&2; sleep 0.5; echo out two'], cliOptions());
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines.slice(1)).toEqual(['out one', 'out two', expect.stringMatching(/^work request \d+ completed\/success after /)]);
    expect(result.stderr).toContain('err one\n');
    expect(result.stderr).toMatch(/^\[system\] started pid \d+: \/bin\/sh/m);
    expect(result.stderr).toMatch(/^\[system\] result: success; duration [\d.]+m?s, cpu \S+, memory [\d.]+ [KM]iB, disk \S+ \S+$/m);
  });

  test('on a terminal, a status line with the elapsed time is redrawn in place and erased at the end', async () => {
    const result = await runCliInTerminal(['submit', '--wait', '--task-name', uniqueTaskName('slow'), '--', '/bin/sleep', '2.5'], cliOptions());
    expect(result.code).toBe(0);
    expect(result.output).toMatch(new RegExp(`\r${ESC}\\[Kwork request \\d+ · running on wait-agent · \\d`));
    const lines = visibleLines(result.output).map((line) => line.split('\r').pop()!).filter(Boolean);
    expect(lines[lines.length - 1]).toMatch(/^work request \d+ completed\/success after /);
  });
});
