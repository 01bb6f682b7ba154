/**
 * Runs end to end: real worker agents with a cost_per_hour, the real `worksched run`, `show --run` and
 * `summary`, the SDK's feed over an endless generator, and Ctrl-C of `worksched run` on a terminal.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { WorkflowTaskInput } from '../../protocol/workflow';
import { runCli, runCliInTerminal, visibleLines } from '../helpers/cli';
import { stripAnsi } from '../helpers/ansi';
import { testIf } from '../helpers/capabilities';
import { TerminalProcess, terminalUnavailableReason } from '../helpers/terminalProcess';
import { CLI, REPO_ROOT, type WorkerProcess } from '../helpers/workerProcess';
import { pollUntil } from '../helpers/waitFor';
import { cleanup, RUN_TAG_ENTRY, startE2EServer, startWorker, tmpDir, uniqueName, withProcessLogs, type E2EServer } from './support';

jest.setTimeout(120_000);

let server: E2EServer;
let worker: WorkerProcess;
const COST_PER_HOUR = 36;

beforeAll(async () => {
  server = await startE2EServer();
  worker = await startWorker(server, { concurrency: 4, env: { WORKSCHED_COST_PER_HOUR: String(COST_PER_HOUR) } });
});

afterAll(async () => {
  await cleanup(server);
});

const cliEnv = () => ({ WORKSCHED_URL: server.url, WORKSCHED_TOKEN: server.adminToken });
const [tagName, tagValue] = RUN_TAG_ENTRY.split('=');

/** The side-effect file, writable by all: concurrent tasks run as different users (worker/taskUsers.ts). */
const effectsFile = (dir: string): string => {
  const file = path.join(dir, 'effects');
  fs.writeFileSync(file, '');
  fs.chmodSync(file, 0o666);
  return file;
};

/** A run task that appends its task id to `file` (the side effect counted), after `sleepS`. */
const sideEffect = (taskId: string, file: string, sleepS = 0): WorkflowTaskInput => ({
  task_id: taskId,
  task_name: 'runs-e2e',
  execution: { executable: '/bin/sh', args: ['-c', `sleep ${sleepS}; echo ${taskId} >> ${file}`], env: { [tagName]: tagValue } },
});

test('summary --run on an empty database says there are no runs', withProcessLogs(async () => {
  const result = await runCli(['summary', '--run'], { env: cliEnv() });
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  expect(result.stdout).toBe('No runs yet (start one with `worksched run MODULE --run-id ID`)\n');
}));

test('each attempt costs cost_per_hour × its measured duration (within 1 %); show --run and summary show the run', withProcessLogs(async () => {
  const runId = uniqueName('costs');
  const file = effectsFile(tmpDir('costs'));
  const client = server.client;
  const handle = client.feed(runId, [0, 1, 2, 3].map((index) => sideEffect(`c${index}`, file, 0.3)), { inFlight: 4 });
  const final = await handle.done;
  expect(final).toEqual(expect.objectContaining({ submitted: 4, done: 4, failed: 0, inFlight: 0 }));
  const rows = [];
  for await (const row of client.iterateWorkRequests({ workflow: runId })) rows.push(row);
  expect(rows).toHaveLength(4);
  for (const row of rows) {
    const durationMs = row.output_data?.runtime_statistics?.duration_ms as number;
    expect(durationMs).toBeGreaterThan(0);
    const expected = (COST_PER_HOUR * durationMs) / 3_600_000;
    expect(Math.abs((row.cost as number) - expected) / expected).toBeLessThan(0.01);
  }
  const total = rows.reduce((sum, row) => sum + (row.cost as number), 0);
  const run = await client.getWorkflow(runId);
  expect(run.status).toBe('SUCCESSFUL');
  expect(Math.abs(run.cost - total) / total).toBeLessThan(0.01);

  const show = await runCli(['show', '--run', runId], { env: cliEnv() });
  expect(show.code).toBe(0);
  const [head, ...lines] = show.stdout.split('\n').filter((line) => /[a-z0-9]/.test(line));
  expect(head.split('│').map((cell) => cell.trim()).filter(Boolean)).toEqual(['ix', 'worker', 'status', 'tasks', 'cost', 'cost/result', 'results', 'stop_reason']);
  expect(lines[0].split('│').map((cell) => cell.trim()).slice(1, 5)).toEqual(['0', worker.options.name, 'ready', '4']);

  const summary = await runCli(['summary', '--run'], { env: cliEnv() });
  expect(summary.code).toBe(0);
  expect(summary.stdout).toContain('run_id');
  expect(summary.stdout).toContain('budget used');
  const cells = summary.stdout.split('\n').filter((line) => line.includes(runId))[0].split('│').map((cell) => cell.trim()).filter(Boolean);
  expect(cells.slice(0, 3)).toEqual([runId, '1/0/0', '4/0/0']);
  expect(cells[5]).toBe('4');

  // --watch on a terminal: the frame redrawn in place (cursor home, lines cleared to their end), never the whole screen blanked in between.
  const watched = await runCliInTerminal(['summary', '--run', runId, '--watch', '--refreshes', '2'], { env: cliEnv() });
  expect(watched.code).toBe(0);
  expect(watched.output.split('\x1b[H').length - 1).toBeGreaterThanOrEqual(2);
  expect(watched.output).not.toContain('\x1b[2J');
  // Two frames, then the last one printed again on the normal screen (it stays in the scroll-back).
  expect(visibleLines(watched.output).filter((line) => line.includes('run_id'))).toHaveLength(3);
}));

test('kill -9 of worksched run mid-run, then the same command again: every task runs exactly once', withProcessLogs(async () => {
  const runId = uniqueName('recover');
  const dir = tmpDir('recover');
  const file = effectsFile(dir);
  const modulePath = path.join(dir, 'tasks.cjs');
  fs.writeFileSync(modulePath, `
    exports.getTasks = function* (runId) {
      for (let i = 0; i < 200; i += 1) {
        yield { task_id: 't' + i, task_name: 'runs-e2e', execution: { executable: '/bin/sh',
          args: ['-c', 'echo t' + i + ' >> ${file}'], env: { ${JSON.stringify(tagName)}: ${JSON.stringify(tagValue)} } } };
      }
    };
  `);
  const args = [CLI, 'run', modulePath, '--run-id', runId, '--in-flight', '8'];
  const first = spawn(process.execPath, args, { cwd: REPO_ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...cliEnv() }, stdio: ['ignore', 'pipe', 'pipe'] });
  let firstOutput = '';
  first.stdout.on('data', (chunk: Buffer) => (firstOutput += chunk.toString()));
  first.stderr.on('data', (chunk: Buffer) => (firstOutput += chunk.toString()));
  const firstExit = new Promise((resolve) => first.on('exit', resolve));
  await pollUntil(() => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length >= 40 : false), {
    timeoutMs: 60_000,
    description: '40 tasks done',
    describe: () => `the first worksched run said: ${firstOutput}`,
  });
  first.kill('SIGKILL');
  await firstExit;

  const second = await runCli(['run', modulePath, '--run-id', runId, '--in-flight', '8'], { env: cliEnv() });
  expect(second.stderr).toBe('');
  expect(second.code).toBe(0);
  expect(second.stdout).toMatch(new RegExp(`^${runId}: done \\d+, running 0, queued 0, skipped \\d+ already submitted`));
  const effects = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const counts = new Map<string, number>();
  for (const id of effects) counts.set(id, (counts.get(id) ?? 0) + 1);
  expect(counts.size).toBe(200);
  expect([...counts.values()].every((count) => count === 1)).toBe(true);
  const run = await server.client.getWorkflow(runId);
  expect(run.status).toBe('SUCCESSFUL');
  expect(run.open).toBe(false);
  expect(run.task_counts.total).toBe(200);
}));

test('feed over an endless generator keeps exactly N tasks in flight for a minute of tasks', withProcessLogs(async () => {
  const runId = uniqueName('endless');
  const file = effectsFile(tmpDir('endless'));
  const inFlight = 3;
  function* endless(): Generator<WorkflowTaskInput> {
    for (let index = 0; ; index += 1) yield sideEffect(`e${index}`, file, 1);
  }
  const handle = server.client.feed(runId, endless(), { inFlight });
  const samples: Array<{ feed: number; server: number }> = [];
  // Sampling starts once the first N are in flight; tasks take a second, refills milliseconds (an add-tasks
  // answer carries only the tasks it adds, so a refill costs the same at the minute's end as at its start).
  await pollUntil(() => handle.progress().inFlight === inFlight, { description: 'N in flight' });
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const run = await server.client.getWorkflow(runId);
    samples.push({ feed: handle.progress().inFlight, server: run.task_counts.pending + run.task_counts.running + run.task_counts.blocked });
  }
  handle.stop();
  const final = await handle.done;
  expect(final.done).toBeGreaterThan(100);
  expect(samples.every((sample) => sample.feed <= inFlight && sample.server <= inFlight)).toBe(true);
  // Between a task's end and its successor's submission the feed has N - 1 (one add-tasks round trip): most
  // samples see exactly N, none more.
  const shareAtN = (part: typeof samples) => part.filter((sample) => sample.server === inFlight).length / part.length;
  const atN = shareAtN(samples);
  // Both halves told apart: a refill that slowed as the run grew would show as a worse second half.
  const halves = [samples.slice(0, samples.length / 2), samples.slice(samples.length / 2)].map((part) => `${Math.round(shareAtN(part) * 100)} %`).join(' then ');
  if (atN < 0.6) throw new Error(`only ${Math.round(atN * 100)} % of samples (${halves}) saw ${inFlight} in flight: ${JSON.stringify(samples)}`);
  expect((await server.client.getWorkflow(runId)).open).toBe(true);
}));

const noTerminal = terminalUnavailableReason();

testIf(noTerminal === null, noTerminal ?? '')('Ctrl-C of worksched run on a terminal stops feeding and lets the running tasks finish; a second Ctrl-C cancels them', withProcessLogs(async () => {
  const runId = uniqueName('interrupt');
  const dir = tmpDir('interrupt');
  const modulePath = path.join(dir, 'tasks.cjs');
  // Endless, and each task would run a minute: only the second Ctrl-C can end this in seconds.
  fs.writeFileSync(modulePath, `
    exports.getTasks = function* () {
      for (let i = 0; ; i += 1) {
        yield { task_id: 'long' + i, task_name: 'runs-e2e', interrupt_allowed: true,
          execution: { executable: '/bin/sleep', args: ['60'], env: { ${JSON.stringify(tagName)}: ${JSON.stringify(tagValue)} } } };
      }
    };
  `);
  const terminal = new TerminalProcess('worksched run', [process.execPath, CLI, 'run', modulePath, '--run-id', runId, '--in-flight', '3'], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...cliEnv() },
  });
  try {
    await terminal.waitForText(/running 3, queued 0/, 60_000);
    terminal.pressCtrlC();
    await terminal.waitForText(/stopping: no more tasks are fed; running ones finish \(Ctrl-C again cancels them\)/, 10_000);
    // The first Ctrl-C only stops feeding: the three keep running, nothing new is submitted, the command waits.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(terminal.exitInfo).toBeNull();
    const stillRunning = await server.client.getWorkflow(runId);
    expect([stillRunning.task_counts.total, stillRunning.task_counts.running]).toEqual([3, 3]);

    const pressedAt = performance.now();
    terminal.pressCtrlC();
    await terminal.waitForText(/cancelling the tasks in flight/, 10_000);
    const exit = await terminal.waitForExit(30_000);
    const stoppedAfterMs = performance.now() - pressedAt;
    process.stdout.write(`second Ctrl-C of worksched run with three 60 s tasks running: it exited after ${Math.round(stoppedAfterMs)} ms\n`);
    expect(exit).not.toBeNull();
    expect(stoppedAfterMs).toBeLessThan(30_000);
    // The live line is redrawn with carriage returns; the final one is what the terminal shows last.
    expect(stripAnsi(terminal.rawOutput()).split(/[\r\n]+/).filter((line) => line.trim() !== '').at(-1)).toMatch(new RegExp(`^${runId}: done 3 \\(3 failed\\), running 0, queued 0, spend [\\d.]+, cost/result - \\(stopped\\)$`));
    expect(exit).toEqual({ code: 1, signal: null });
    const rows = [];
    for await (const row of server.client.iterateWorkRequests({ workflow: runId })) rows.push(row);
    // Cancelled while running (the worker is told to stop them), and nothing fed after the first Ctrl-C.
    expect(rows.map((row) => [row.task_id, row.status]).sort()).toEqual([['long0', 'aborted'], ['long1', 'aborted'], ['long2', 'aborted']]);
    for (const row of rows) expect(row.state_reason).toMatch(/^cancelled by .* while running on /);
  } finally {
    terminal.kill();
  }
}));
