/**
 * The operator commands end to end, the real CLI against a real server (worker steps through the worker API):
 * `retry`, `summary`, `show ID --watch` (piped and on a terminal, ending with the request or on Ctrl-C), and
 * `--json` on every listing command.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { StatisticsSummary } from '../protocol/statistics';
import type { WorkRequest } from '../protocol/workRequest';
import { ESC } from './helpers/ansi';
import { testIf } from './helpers/capabilities';
import { runCli, startCli, type CliOptions } from './helpers/cli';
import { expectStatus, startTestServer, type SimWorker, type TestServer } from './helpers/server';
import { TerminalProcess, terminalUnavailableReason } from './helpers/terminalProcess';
import { pollUntil } from './helpers/waitFor';
import { CLI, REPO_ROOT } from './helpers/workerProcess';

jest.setTimeout(120_000);

let server: TestServer;
let worker: SimWorker;
let scratch: string;

beforeAll(async () => {
  server = await startTestServer();
  worker = await server.registerWorker({ name: 'ops-worker', concurrency: 10 });
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'worksched-cli-ops-'));
});

afterAll(async () => {
  await server?.close();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

function env(token: string = server.adminToken): Record<string, string> {
  return { WORKSCHED_URL: server.url, WORKSCHED_TOKEN: token, WORKSCHED_DATA_DIR: path.join(scratch, 'no-credentials') };
}
const options = (token?: string): CliOptions => ({ env: env(token) });

async function failedRequest(): Promise<WorkRequest> {
  const created = await server.createWorkRequest();
  expect((await worker.claimOk()).map((item) => item.id)).toEqual([created.id]);
  return expectStatus(await worker.complete(created.id, { result: 'failure', output_data: { errors: [{ code: 'exit_code', message: 'exit 1' }] } }), 200, 'fail').body;
}

describe('worksched retry', () => {
  test('retries a failed request and says as what; a second retry of it, and an unknown id, exit 1 and say why', async () => {
    const failed = await failedRequest();
    const result = await runCli(['retry', String(failed.id)], options(server.clientToken));
    const retry = (await server.getWorkRequest(failed.id)).superseded_by!;
    expect(result).toMatchObject({ code: 0, stderr: '', stdout: `retried ${failed.id} as ${retry} (attempt 2 of 3, pending)\n` });

    const again = await runCli(['retry', String(failed.id), '99999999'], options(server.clientToken));
    expect(again.code).toBe(1);
    expect(again.stdout).toBe('');
    expect(again.stderr.trimEnd().split('\n')).toEqual([
      `worksched: cannot retry ${failed.id}: work request ${failed.id} was already retried as #${retry}: retry the newest attempt instead`,
      'worksched: cannot retry 99999999: work request 99999999 does not exist',
    ]);
    expect((await runCli(['retry', 'x1'], options())).code).toBe(2);
    await server.client(server.adminToken).cancel(retry);
  });

  test('--json prints the new attempts', async () => {
    const failed = await failedRequest();
    const result = await runCli(['retry', '--json', String(failed.id)], options());
    expect(result.code).toBe(0);
    const printed = JSON.parse(result.stdout) as WorkRequest[];
    expect(printed).toEqual([expect.objectContaining({ supersedes: failed.id, attempt: 2, status: 'pending' })]);
    await server.client(server.adminToken).cancel(printed[0].id);
  });
});

describe('worksched summary', () => {
  test('requests by status, workers ready/busy/offline and the last hour; --json is the API answer', async () => {
    const running = await server.createWorkRequest();
    expect((await worker.claimOk()).map((item) => item.id)).toEqual([running.id]);
    const table = await runCli(['summary'], options());
    expect(table.code).toBe(0);
    const summary = await server.client(server.adminToken).getStatisticsSummary();
    const lines = table.stdout.split('\n');
    const row = (name: string) => lines.find((line) => line.includes(name)) ?? '';
    expect(row('work requests')).toMatch(new RegExp(`│ ${summary.work_requests.total} +│ pending ${summary.work_requests.by_status.pending}, running 1, completed ${summary.work_requests.by_status.completed}`));
    expect(row('workers')).toMatch(/│ 1 +│ ready 0, busy 1, offline 0 /);
    expect(row('ended, last hour')).toMatch(new RegExp(`│ ${summary.last_hour.ended} +│ [\\d.]+/min: failure ${summary.last_hour.by_result.failure}, aborted ${summary.last_hour.aborted}`));
    expect(table.stdout).not.toContain(ESC);

    const json = await runCli(['summary', '--json'], options());
    expect(JSON.parse(json.stdout)).toEqual<StatisticsSummary>(summary);
    expect((await runCli(['summary', '--watch', '--json'], options())).code).toBe(2);
    expectStatus(await worker.complete(running.id, { result: 'success' }), 200, 'complete');
  });
});

describe('worksched show ID --watch', () => {
  test('piped: a frame each time the request changes, and it exits 0 when the request ends', async () => {
    const request = await server.createWorkRequest();
    const watching = startCli(['show', String(request.id), '--watch'], options());
    await pollUntil(() => watching.stdoutSoFar().includes('status:'), { description: 'the first frame', timeoutMs: 30_000 });
    expect((await worker.claimOk()).map((item) => item.id)).toEqual([request.id]);
    await pollUntil(() => /status: +running/.test(watching.stdoutSoFar()), { description: 'the running frame', timeoutMs: 30_000 });
    expectStatus(await worker.complete(request.id, { result: 'success', output_data: { runtime_statistics: { duration: 1 } } }), 200, 'complete');
    const result = await watching.done;
    expect(result.code).toBe(0);
    const statuses = [...result.stdout.matchAll(/^status: +(\S+)$/gm)].map((match) => match[1]);
    expect(statuses).toEqual(['pending', 'running', 'completed/success']);
    expect(result.stdout).not.toContain(ESC);
  });

  const noTerminal = terminalUnavailableReason();
  const watchOnTerminal = (id: number) =>
    new TerminalProcess('show --watch', [process.execPath, CLI, 'show', String(id), '--watch'], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env() },
    });
  const frames = (raw: string) => raw.split(`${ESC}[H`).length - 1;

  testIf(noTerminal === null, noTerminal ?? '')('on a terminal: redrawn in place on the alternate screen, never cleared; the last frame stays when it ends', async () => {
    const request = await server.createWorkRequest();
    const terminal = watchOnTerminal(request.id);
    try {
      // A few frames while pending, then the request runs and finishes.
      await pollUntil(() => frames(terminal.rawOutput()) >= 2, { description: 'two frames', timeoutMs: 30_000 });
      expect((await worker.claimOk()).map((item) => item.id)).toEqual([request.id]);
      expectStatus(await worker.complete(request.id, { result: 'success' }), 200, 'complete');
      expect(await terminal.waitForExit(30_000)).toEqual({ code: 0, signal: null });
    } finally {
      terminal.kill();
    }
    const output = terminal.rawOutput();
    const onAlternate = output.slice(output.indexOf(`${ESC}[?1049h`), output.indexOf(`${ESC}[?1049l`));
    expect(onAlternate.length).toBeGreaterThan(0);
    // Frames overwrite from the top (cursor home), and the screen is never cleared (no flicker).
    expect(frames(onAlternate)).toBeGreaterThanOrEqual(2);
    expect(output).not.toContain(`${ESC}[2J`);
    expect(onAlternate).toMatch(new RegExp(`work request ${request.id} · every 1s · Ctrl-C to stop`));
    // Back on the normal screen with the cursor shown, the final frame printed there.
    const after = output.slice(output.indexOf(`${ESC}[?1049l`));
    expect(output.lastIndexOf(`${ESC}[?25h`)).toBeLessThan(output.indexOf(`${ESC}[?1049l`));
    expect(after).toMatch(/status: +completed\/success/);
  });

  testIf(noTerminal === null, noTerminal ?? '')('Ctrl-C stops watching at once, exit 0, the terminal restored', async () => {
    const request = await server.createWorkRequest({ resources: { memory: '4096GiB' } });
    const terminal = watchOnTerminal(request.id);
    try {
      await terminal.waitForText(/state reason: +cannot run on any registered worker/, 30_000);
      const pressedAt = Date.now();
      terminal.pressCtrlC();
      const exit = await terminal.waitForExit(10_000);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(Date.now() - pressedAt).toBeLessThan(5_000);
      expect(terminal.output()).toMatch(/status: +pending\s*$/m);
    } finally {
      terminal.kill();
      await server.client(server.adminToken).cancel(request.id);
    }
  });

  test('--watch needs an id, and does not go with --json', async () => {
    expect(await runCli(['show', '--watch'], options())).toMatchObject({ code: 2, stderr: 'worksched: --watch follows one request: give its id, e.g. worksched show 42 --watch\n' });
    expect((await runCli(['show', '1', '--watch', '--json'], options())).code).toBe(2);
  });
});

describe('--json', () => {
  const helpOf = async (args: string[]) => (await runCli([...args, '--help'], options())).stdout;
  /** The commands a help text lists, each with whether it is a group (commander shows `[command]`, or no options). */
  const commandsOf = (help: string) =>
    [...(help.split(/^Commands:$/m)[1] ?? '').matchAll(/^ {2}(\S+)(.*?)(?: {2,}|$)/gm)]
      .filter((match) => match[1] !== 'help')
      .map((match) => ({ name: match[1], group: match[2].includes('[command]') || !match[2].includes('[options]') }));
  const hasJson = (help: string) => /^\s+--json\b/m.test(help);

  test('every listing command has it: show, workers, stats, summary, logs, and any "list" subcommand', async () => {
    const top = commandsOf(await helpOf([]));
    const listing = ['show', 'workers', 'stats', 'summary', 'logs'];
    expect(top.map((command) => command.name)).toEqual(expect.arrayContaining(listing));
    const groups = top.filter((command) => command.group).map((command) => command.name);
    expect(groups).toContain('token');
    const helps = new Map(await Promise.all([...listing, ...groups].map(async (name) => [name, await helpOf([name])] as const)));
    const found = listing.map((name) => ({ command: name, json: hasJson(helps.get(name)!) }));
    for (const group of groups) {
      for (const sub of commandsOf(helps.get(group)!).filter((command) => command.name === 'list')) {
        found.push({ command: `${group} ${sub.name}`, json: hasJson(await helpOf([group, sub.name])) });
      }
    }
    expect(found.filter((item) => !item.json)).toEqual([]);
  });

  test('logs --json prints every entry as one JSON object a line', async () => {
    const request = await server.createWorkRequest();
    expect((await worker.claimOk()).map((item) => item.id)).toEqual([request.id]);
    expectStatus(await worker.postLogs(request.id, [{ seq: 0, text: 'out\n' }, { seq: 1, text: 'err\n', stream: 'stderr' }]), 200, 'logs');
    expectStatus(await worker.complete(request.id, { result: 'success' }), 200, 'complete');
    const result = await runCli(['logs', '--json', String(request.id)], options());
    expect(result.code).toBe(0);
    const entries = result.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as { seq: number; stream: string; text: string });
    expect(entries.slice(0, 2)).toEqual([expect.objectContaining({ seq: 0, stream: 'stdout', text: 'out\n' }), expect.objectContaining({ seq: 1, stream: 'stderr', text: 'err\n' })]);
  });
});
