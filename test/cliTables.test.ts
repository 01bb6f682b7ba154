/**
 * Tables fit the terminal: on a pseudo-terminal with COLUMNS=80 no line of `show`, `show ID`, `workers`, `summary` or
 * `stats` (any mode) is wider than 80 characters; piped, the same tables keep their full rows.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GiB, startTestServer, uniqueTaskName, type TestServer } from './helpers/server';
import { runCli, runCliInTerminal, visibleLines, type CliOptions } from './helpers/cli';

jest.setTimeout(120_000);

let server: TestServer;
let scratch: string;
let taskName: string;
let failedId: number;
const LONG_ERROR = 'the build script could not find the file it needed in the directory where it looked, nor anywhere else on the path';

beforeAll(async () => {
  server = await startTestServer();
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'worksched-cli-tables-'));
  const worker = await server.registerWorker({
    name: 'a-worker-with-a-rather-long-descriptive-name-01',
    tags: ['linux', 'amd64', 'gpu-capable', 'large-disk', 'nightly'],
    totalMemory: 64 * GiB,
  });
  taskName = uniqueTaskName('a-long-task-name-for-the-nightly-build');
  for (const subject of ['package-with-a-long-name-1', 'package-with-a-long-name-2']) {
    const created = await server.createWorkRequest({ task_name: taskName, subject, context: 'amd64-linux-gnu', execution: { executable: '/bin/true', args: [] } });
    expect((await worker.claimOk({ max: 1 })).map((item) => item.id)).toEqual([created.id]);
    const stats = { duration: 184, duration_ms: 184_000, cpu_time: 90, memory: 3 * GiB, disk_space: GiB };
    await worker.complete(created.id, { result: 'success', output_data: { runtime_statistics: stats } });
  }
  const failing = await server.createWorkRequest({ task_name: taskName, subject: 'package-with-a-long-name-3', execution: { executable: '/bin/false', args: [] } });
  await worker.claimOk({ max: 1 });
  await worker.complete(failing.id, { result: 'failure', output_data: { errors: [{ code: 'exit_code', message: LONG_ERROR, exit_code: 1 }] } });
  failedId = failing.id;
});

afterAll(async () => {
  await server?.close();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

function cliOptions(extra: Record<string, string> = {}): CliOptions {
  return { env: { WORKSCHED_URL: server.url, WORKSCHED_TOKEN: server.adminToken, WORKSCHED_DATA_DIR: path.join(scratch, 'none'), ...extra } };
}

const COMMANDS = [['show'], ['show', 'FAILED'], ['workers'], ['stats'], ['stats', 'TASK'], ['stats', '--workers'], ['stats', '--summary'], ['summary']];
const withIds = (args: string[]) => args.map((arg) => (arg === 'FAILED' ? String(failedId) : arg === 'TASK' ? taskName : arg));

test.each(COMMANDS.map((args) => [args.join(' ')]))('worksched %s at COLUMNS=80 has no line over 80 characters', async (command) => {
  const args = withIds(command.split(' '));
  const result = await runCliInTerminal(args, cliOptions({ COLUMNS: '80' }));
  expect(result.code).toBe(0);
  const lines = visibleLines(result.output);
  expect(lines.filter((line) => /\S/.test(line)).length).toBeGreaterThan(2);
  const tooWide = lines.filter((line) => [...line].length > 80);
  expect(tooWide).toEqual([]);
});

test('cut cells end with an ellipsis; at COLUMNS=120 more columns stay', async () => {
  const [narrow, wide] = await Promise.all([
    runCliInTerminal(['stats'], cliOptions({ COLUMNS: '80' })),
    runCliInTerminal(['stats'], cliOptions({ COLUMNS: '120' })),
  ]);
  const header = (output: string) => visibleLines(output).find((line) => line.includes('runs'))!;
  expect(header(narrow.output)).not.toContain('mem max');
  expect(header(wide.output)).toContain('dur p95');
  expect(visibleLines(wide.output).every((line) => [...line].length <= 120)).toBe(true);
  expect(header(wide.output).split('│').length).toBeGreaterThan(header(narrow.output).split('│').length);
  const show = await runCliInTerminal(['show'], cliOptions({ COLUMNS: '80' }));
  expect(visibleLines(show.output).find((line) => line.includes(`│ ${failedId} `))).toMatch(/…/);
});

test('piped, every table keeps its full rows', async () => {
  const [show, stats, workers] = await Promise.all([runCli(['show'], cliOptions({ COLUMNS: '80' })), runCli(['stats'], cliOptions({ COLUMNS: '80' })), runCli(['workers'], cliOptions())]);
  const failedRow = show.stdout.split('\n').find((line) => line.includes(`│ ${failedId} `))!;
  // The column's own cap (50) applies, not the terminal's width.
  expect(failedRow).toContain('exit_code: the build script could not find the fi…');
  expect(failedRow).toContain('a-worker-with-a-rather-long-descriptive-name-01');
  expect(stats.stdout).toContain('last failure');
  expect(stats.stdout).toContain('mem max');
  // Only each column's own cap applies (40 for names, 30 for tags), never the terminal's width.
  const workerRow = workers.stdout.split('\n').find((line) => line.includes('a-worker'))!;
  expect(workerRow).toContain('a-worker-with-a-rather-long-descriptive… │');
  expect(workerRow).toContain('linux,amd64,gpu-capable,large… │');
  expect(workerRow).toMatch(/\d+s ago/);
  expect([...workerRow].length).toBeGreaterThan(120);
});
