/**
 * The worksched CLI end to end: a real server in this process (on its own fresh database) and the real
 * `node bin/worksched.js` as a child process, checked by its stdout, stderr and exit code, and by what the
 * server holds afterwards (read through the client SDK). Worker-side steps (claim, logs, completion) go
 * through the worker HTTP API directly, so these tests do not depend on the worker agent.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WorkschedClient } from '../client';
import type { WorkRequest } from '../protocol/workRequest';
import { compileServerConfig } from '../server/config';
import { startServer, type RunningServer } from '../server/startServer';
import { ESC } from './helpers/ansi';
import { createTestDatabase, type TestDatabase } from './helpers/database';
import { withoutEstimates } from './helpers/server';
import { pollUntil } from './helpers/waitFor';

const REPO = path.resolve(__dirname, '..');
const BIN = path.join(REPO, 'bin', 'worksched.js');
const GiB = 1024 ** 3;

// Every test runs the CLI several times, each a fresh node process that loads the TypeScript sources.
jest.setTimeout(180_000);

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

let database: TestDatabase;
let server: RunningServer;
let admin: WorkschedClient;
let scratch: string;

beforeAll(async () => {
  database = await createTestDatabase();
  scratch = mkdtempSync(path.join(os.tmpdir(), 'worksched-cli-test-'));
  server = await startServer(
    compileServerConfig({
      databaseUrl: database.url,
      port: 0,
      dataDir: path.join(scratch, 'server'),
      logLevel: 'silent',
      // Workers registered here never heartbeat: do not let housekeeping declare them lost mid-test.
      heartbeatTimeoutS: 3600,
    }),
  );
  admin = new WorkschedClient({ baseUrl: server.url, token: server.adminToken });
});

afterAll(async () => {
  await server?.close();
  await database?.drop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/**
 * Starts the CLI asynchronously (the server lives in this process, so a synchronous spawn would deadlock).
 * WORKSCHED_DATA_DIR points at an empty directory: the CLI must use the URL and token it is given, not find
 * the server's credentials file.
 */
function startCli(args: string[], options: { token?: string; input?: string } = {}): { done: Promise<CliResult>; stdoutSoFar(): string } {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: scratch,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      WORKSCHED_URL: server.url,
      WORKSCHED_TOKEN: options.token ?? server.adminToken,
      WORKSCHED_DATA_DIR: path.join(scratch, 'no-credentials-here'),
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.end(options.input ?? '');
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { done, stdoutSoFar: () => stdout };
}

function cli(args: string[], options: { token?: string; input?: string } = {}): Promise<CliResult> {
  return startCli(args, options).done;
}

async function eventually(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  await pollUntil(condition, { description: what, timeoutMs: 90_000 });
}

function createdId(result: CliResult): number {
  const match = /^created work request (\d+) \(([^,]+), (\w+)\)\n$/.exec(result.stdout);
  if (!match) throw new Error(`unexpected submit output: ${JSON.stringify(result)}`);
  return Number(match[1]);
}

function writeSpec(name: string, spec: unknown): string {
  const file = path.join(scratch, name);
  writeFileSync(file, typeof spec === 'string' ? spec : JSON.stringify(spec));
  return file;
}

async function countRequests(): Promise<number> {
  let count = 0;
  for await (const _request of admin.iterateWorkRequests({ limit: 500 })) count += 1;
  return count;
}

/** A worker registered through the HTTP API, acting as the worker agent would. */
async function registerWorker(name: string): Promise<{ id: number; token: string; post: (route: string, body: unknown) => Promise<Response> }> {
  const response = await fetch(`${server.url}/api/v1/workers/register`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.enrollmentToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      name,
      resources: { cpu_count: 4, total_memory: 8 * GiB, available_memory: 6 * GiB, available_disk_space: 100 * GiB },
      tags: ['linux'],
      concurrency: 4,
    }),
  });
  expect(response.status).toBe(201);
  const answer = (await response.json()) as { worker: { id: number }; token: string };
  const post = (route: string, body: unknown) =>
    fetch(`${server.url}/api/v1${route}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${answer.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  return { id: answer.worker.id, token: answer.token, post };
}

type TestWorker = Awaited<ReturnType<typeof registerWorker>>;

/** Claims exactly request `id`: every other pending request is cancelled first so the claim cannot pick it. */
async function claim(worker: TestWorker, id: number): Promise<void> {
  for await (const request of admin.iterateWorkRequests({ status: 'pending' })) {
    if (request.id !== id) await admin.cancel(request.id);
  }
  const response = await worker.post('/workers/claim', { max: 1, wait_s: 0 });
  expect(response.status).toBe(200);
  const claimed = (await response.json()) as { work_requests: Array<{ id: number }> };
  expect(claimed.work_requests.map((request) => request.id)).toEqual([id]);
}

/** Setup for tests of other commands: created through the SDK (`submit` itself has its own tests below). */
async function submitRequest(taskName: string, executable: string, args: string[] = []): Promise<number> {
  return (await admin.createWorkRequest({ task_name: taskName, execution: { executable, args } })).id;
}

describe('worksched submit', () => {
  test('from flags: the request holds every flag, and arguments after -- are passed as they are', async () => {
    const result = await cli([
      'submit', '--task-name', 'hello', '--subject', 'img-42', '--context', 'amd64',
      '--time-limit', '15m', '--memory', '512MiB', '--cpu', '2', '--disk', '1GiB', '--tag', 'linux', '--tag', 'x86',
      '--priority', '7', '--max-attempts', '2', '--no-interrupt', '--env', 'GREETING=hi=there', '--param', 'size=10',
      '--metadata', '{"ticket":"OPS-1"}',
      '--', '/bin/echo', '-n', 'hello world',
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^created work request \d+ \(hello, pending\)\n$/);
    const request = await admin.getWorkRequest(createdId(result));
    expect(request).toMatchObject({
      task_name: 'hello',
      subject: 'img-42',
      context: 'amd64',
      status: 'pending',
      time_limit_s: 900,
      priority: 7,
      max_attempts: 2,
      interrupt_allowed: false,
      user_metadata: { ticket: 'OPS-1' },
      requirements: { memory: 512 * 1024 ** 2, cpu: 2, disk: GiB, tags: ['linux', 'x86'] },
    });
    expect(request.task_data.execution).toMatchObject({
      executable: '/bin/echo',
      args: ['-n', 'hello world'],
      env: { GREETING: 'hi=there' },
      parameters: { size: '10' },
    });
  });

  test('from a file, with --json printing the created request', async () => {
    const file = writeSpec('resize.json', {
      task_name: 'resize',
      execution: { executable: '/usr/bin/convert', args: ['a.png'] },
      time_limit: '2h',
      resources: { memory: '2GiB', cpu: 1 },
      priority: 3,
    });
    const result = await cli(['submit', file, '--json']);
    expect(result.code).toBe(0);
    const printed = JSON.parse(result.stdout) as WorkRequest;
    const stored = await admin.getWorkRequest(printed.id);
    expect(withoutEstimates(stored)).toEqual(withoutEstimates(printed));
    expect(stored).toMatchObject({ task_name: 'resize', time_limit_s: 7200, priority: 3, requirements: { memory: 2 * GiB, cpu: 1 } });
    expect(stored.task_data.execution.args).toEqual(['a.png']);
  });

  test('from stdin ("-"), flags overriding the file', async () => {
    const spec = JSON.stringify({ task_name: 'piped', execution: { executable: '/bin/true' }, priority: 1 });
    const result = await cli(['submit', '-', '--priority', '9', '--quiet'], { input: spec });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^\d+\n$/);
    const stored = await admin.getWorkRequest(Number(result.stdout));
    expect(stored).toMatchObject({ task_name: 'piped', priority: 9 });
  });

  test('a bad spec file is refused locally: exit 2, one line naming the field, nothing created', async () => {
    const before = await countRequests();
    const file = writeSpec('bad.json', { task_name: 'resize', execution: { executable: '/bin/true' }, resources: { memory: 'lots' } });
    const [result, unknownField, notJson, missing, badFlag] = await Promise.all([
      cli(['submit', file]),
      cli(['submit', writeSpec('unknown.json', { task_name: 't', execution: { executable: 'x' }, colour: 'red' })]),
      cli(['submit', writeSpec('broken.json', '{"task_name": ')]),
      cli(['submit', path.join(scratch, 'does-not-exist.json')]),
      cli(['submit', '--task-name', 'x', '--cpu', 'two', '--', '/bin/true']),
    ]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^worksched: task spec: resources\.memory: not a size: "lots"[^\n]*\n$/);

    expect(unknownField.code).toBe(2);
    expect(unknownField.stderr).toMatch(/^worksched: task spec: [^\n]*colour[^\n]*\n$/);

    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toMatch(/^worksched: task spec .*broken\.json is not valid JSON[^\n]*\n$/);

    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^worksched: cannot read task spec .*does-not-exist\.json: no such file\n$/);

    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toBe('worksched: --cpu must be an integer, got "two"\n');

    expect(await countRequests()).toBe(before);
  });

  test('a JSON-lines file (.jsonl) creates one request per line, in order, flags applied to each; duplicates are two requests', async () => {
    const line = (i: number) => JSON.stringify({ task_name: 'jsonl-task', subject: `s${i % 3}`, execution: { executable: '/bin/true', args: [String(i)] } });
    const lines = Array.from({ length: 25 }, (_, i) => line(i));
    lines.splice(10, 0, '', line(9)); // a blank line is skipped; a repeated spec is another request
    const file = writeSpec('many.jsonl', `${lines.join('\n')}\n`);
    const result = await cli(['submit', file, '--priority', '4']);
    expect(result.code).toBe(0);
    const match = /^created 26 work requests \(#(\d+)…#(\d+)\)\n$/.exec(result.stdout);
    expect(match).not.toBeNull();
    const stored = (await admin.listWorkRequests({ task_name: 'jsonl-task', limit: 100 })).work_requests.reverse();
    expect(stored.map((request) => request.task_data.execution.args[0])).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '9', ...Array.from({ length: 15 }, (_, i) => String(i + 10))]);
    expect(stored.every((request) => request.priority === 4)).toBe(true);
    expect([stored[0].id, stored[stored.length - 1].id]).toEqual([Number(match![1]), Number(match![2])]);

    const piped = await cli(['submit', '--jsonl', '-', '--quiet'], { input: `${line(1)}\n${line(2)}` });
    expect(piped.code).toBe(0);
    expect(piped.stdout).toMatch(/^\d+\n\d+\n$/);
  });

  test('a bad line of a JSON-lines file: exit 2 naming the line and field, nothing created', async () => {
    const before = await countRequests();
    const good = JSON.stringify({ task_name: 'jsonl-bad', execution: { executable: '/bin/true' } });
    const bad = JSON.stringify({ task_name: 'jsonl-bad', execution: { executable: '/bin/true' }, resources: { memory: 'lots' } });
    const [badField, notJson] = await Promise.all([
      cli(['submit', writeSpec('bad.jsonl', [good, good, bad, good].join('\n'))]),
      cli(['submit', '--jsonl', writeSpec('broken.txt', `${good}\n{"task_name":`)]),
    ]);
    expect(badField.code).toBe(2);
    expect(badField.stdout).toBe('');
    expect(badField.stderr).toMatch(/^worksched: .*bad\.jsonl line 3: task spec: resources\.memory: not a size: "lots"[^\n]*\n$/);
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toMatch(/^worksched: .*broken\.txt line 2 is not valid JSON[^\n]*\n$/);
    expect(await countRequests()).toBe(before);
  });

  test('--wait exits 0 when the request succeeds and 1 when it fails', async () => {
    const worker = await registerWorker('wait-worker');
    for (const [result, code] of [['success', 0], ['failure', 1]] as const) {
      const running = cli(['submit', '--wait', '--task-name', `wait-${result}`, '--', '/bin/true']);
      let id = 0;
      await eventually(async () => {
        id = (await admin.listWorkRequests({ task_name: `wait-${result}` })).work_requests[0]?.id ?? 0;
        return id > 0;
      }, 'the submitted request exists');
      await claim(worker, id);
      const errors = result === 'failure' ? [{ code: 'exit_code', message: 'exited with status 3', exit_code: 3 }] : [];
      const completion = await worker.post(`/work-requests/${id}/complete`, { result, output_data: { errors, runtime_statistics: { duration: 1 } } });
      expect(completion.status).toBe(200);
      const finished = await running;
      expect(finished.code).toBe(code);
      const lines = finished.stdout.trimEnd().split('\n');
      expect(lines[0]).toBe(`created work request ${id} (wait-${result}, pending)`);
      expect(lines[1]).toMatch(new RegExp(`^work request ${id} completed/${result}`));
      if (result === 'failure') expect(lines[1]).toContain('exit_code: exited with status 3');
    }
  });
});

describe('worksched show', () => {
  test('the table lists recent requests with id, task and status; filters narrow it', async () => {
    const id = await submitRequest('listed-task', '/bin/true');
    const [table, filtered, byStatus, limitedResult] = await Promise.all([
      cli(['show']),
      cli(['show', '--task-name', 'resize']),
      cli(['show', '--status', 'completed', '--json']),
      cli(['show', '--limit', '2', '--json']),
    ]);
    expect(table.code).toBe(0);
    const row = table.stdout.split('\n').find((line) => line.includes(` ${id} `));
    expect(row).toBeDefined();
    expect(row).toContain('listed-task');
    expect(row).toContain('pending');
    expect(table.stdout).not.toContain(`${ESC}[`); // no colour codes in a pipe

    expect(filtered.code).toBe(0);
    expect(filtered.stdout).toContain('resize');
    expect(filtered.stdout).not.toContain('listed-task');

    expect(byStatus.code).toBe(0);
    const completed = JSON.parse(byStatus.stdout) as WorkRequest[];
    expect(completed.every((request) => request.status === 'completed')).toBe(true);
    expect(completed.some((request) => request.id === id)).toBe(false);

    const limited = JSON.parse(limitedResult.stdout) as WorkRequest[];
    expect(limited).toHaveLength(2);
  });

  test('show ID describes a script or python task and its required files', async () => {
    const script = (await admin.createWorkRequest({
      task_name: 'scripted',
      execution: { script: '#!/bin/sh\necho one\necho two', args: ['x'] },
      required_folder: ['/data/in'],
      required_file_expression: ['\\.csv$'],
    })).id;
    const python = (await admin.createWorkRequest({
      task_name: 'pythonic',
      execution: { python: { file: '/opt/tasks.py', function: 'resize', kwargs: { width: 3 } }, parameters: { label: 'big' } },
      required_filepath: ['/opt/tasks.py'],
    })).id;
    const [scriptShow, pythonShow] = await Promise.all([cli(['show', String(script)]), cli(['show', String(python)])]);
    expect(scriptShow.stdout).toMatch(/^command:\s+script \(3 lines: #!\/bin\/sh\) x$/m);
    expect(scriptShow.stdout).toMatch(/^required files:\s+\/data\/in\/ \(a file matching \\\.csv\$\)$/m);
    expect(pythonShow.stdout).toMatch(/^command:\s+python \/opt\/tasks\.py: resize\(width=3, label="big"\)$/m);
    expect(pythonShow.stdout).toMatch(/^required files:\s+\/opt\/tasks\.py$/m);
  });

  test('show ID gives the detail view; bad and unknown ids say so', async () => {
    const spec = {
      task_name: 'detailed',
      subject: 'sub-1',
      execution: { executable: '/bin/echo', args: ['a b'] },
      resources: { memory: '3GiB', tags: ['gpu-box'] },
      user_metadata: { owner: 'ops' },
    };
    const id = (await admin.createWorkRequest(spec)).id;
    const [detail, jsonResult, notNumeric, unknown] = await Promise.all([
      cli(['show', String(id)]),
      cli(['show', String(id), '--json']),
      cli(['show', 'abc']),
      cli(['show', '987654']),
    ]);
    expect(detail.code).toBe(0);
    expect(detail.stdout).toMatch(new RegExp(`^id:\\s+${id}$`, 'm'));
    expect(detail.stdout).toMatch(/^task:\s+detailed$/m);
    expect(detail.stdout).toMatch(/^subject:\s+sub-1$/m);
    expect(detail.stdout).toMatch(/^status:\s+pending$/m);
    expect(detail.stdout).toMatch(/^command:\s+\/bin\/echo 'a b'$/m);
    expect(detail.stdout).toContain('memory 3.0 GiB');
    expect(detail.stdout).toContain('tags gpu-box');
    expect(detail.stdout).toContain('"owner":"ops"');

    const json = JSON.parse(jsonResult.stdout) as WorkRequest;
    // The estimates pass may fill the ETA fields between the two reads.
    expect(withoutEstimates(json)).toEqual(withoutEstimates(await admin.getWorkRequest(id)));

    expect(notNumeric.code).toBe(2);
    expect(notNumeric.stderr).toMatch(/^worksched: work request id must be a positive integer, got "abc"[^\n]*\n$/);

    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^worksched: work request 987654 does not exist \(list work requests with `worksched show`\)\n$/);
  });

  test('a completed request shows its runtime statistics in human units and its errors', async () => {
    const worker = await registerWorker('stats-worker');
    const id = await submitRequest('measured', '/bin/false');
    await claim(worker, id);
    const completion = await worker.post(`/work-requests/${id}/complete`, {
      result: 'failure',
      output_data: {
        runtime_statistics: { duration: 184, cpu_time: 90, memory: 3 * GiB, disk_space: 512 * 1024 ** 2, cpu_count: 4 },
        errors: [{ code: 'exit_code', message: 'exited with status 1', exit_code: 1 }],
      },
    });
    expect(completion.status).toBe(200);
    const detail = await cli(['show', String(id)]);
    expect(detail.code).toBe(0);
    expect(detail.stdout).toMatch(/^status:\s+completed\/failure$/m);
    expect(detail.stdout).toMatch(/^worker:\s+stats-worker/m);
    expect(detail.stdout).toMatch(/duration\s+│\s+3m04s/);
    expect(detail.stdout).toMatch(/cpu time\s+│\s+1m30s/);
    expect(detail.stdout).toMatch(/peak memory\s+│\s+3\.0 GiB/);
    expect(detail.stdout).toMatch(/peak disk space\s+│\s+512\.0 MiB/);
    expect(detail.stdout).toContain('exit_code: exited with status 1 {"exit_code":1}');

    const table = await cli(['show', '--task-name', 'measured']);
    const row = table.stdout.split('\n').find((line) => line.includes(` ${id} `));
    expect(row).toContain('completed/failure');
    expect(row).toContain('stats-worker');
    expect(row).toContain('exit_code: exited with status 1');
  });
});

describe('worksched show ID: learned requirements', () => {
  test('each reason is said once (it already names the resource and its value)', async () => {
    const worker = await registerWorker('learn-worker');
    const seed = await submitRequest('learned-once', '/bin/true');
    await claim(worker, seed);
    await worker.post(`/work-requests/${seed}/complete`, { result: 'success', output_data: { runtime_statistics: { duration: 2, memory: 300 * 1024 ** 2 } } });
    const id = await submitRequest('learned-once', '/bin/true');
    const reason = (await admin.getWorkRequest(id)).learned_requirements.find((item) => item.resource === 'memory')!.reason;
    expect(reason).toMatch(/^memory ≥ 360\.0 MiB: p95 of 1 successful run/);
    const detail = await cli(['show', String(id)]);
    expect(detail.code).toBe(0);
    expect(detail.stdout).toContain(`\n    ${reason}\n`);
    expect(detail.stdout.split('memory ≥ 360.0 MiB')).toHaveLength(2);
  });
});

describe('worksched logs', () => {
  test('stdout entries go to stdout, stderr and [system] entries to stderr; -f returns when the request ends', async () => {
    const worker = await registerWorker('log-worker');
    const id = await submitRequest('chatty', '/bin/sh', ['-c', 'echo hi']);
    await claim(worker, id);
    const ts = new Date().toISOString();
    const posted = await worker.post(`/work-requests/${id}/logs`, {
      entries: [
        { seq: 0, ts, stream: 'system', text: 'starting /bin/sh' },
        { seq: 1, ts, stream: 'stdout', text: 'out one\n' },
        { seq: 2, ts, stream: 'stderr', text: 'err one\n' },
        { seq: 3, ts, stream: 'stdout', text: 'out two\n' },
      ],
    });
    expect(posted.status).toBe(200);

    const logs = await cli(['logs', String(id)]);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toBe('out one\nout two\n');
    expect(logs.stderr).toBe('[system] starting /bin/sh\nerr one\n');

    // Only once it has printed what was stored does the request get a new entry and end: -f must stream it.
    const following = startCli(['logs', '-f', String(id)]);
    await eventually(() => following.stdoutSoFar() === 'out one\nout two\n', '`logs -f` printed the stored entries');
    await worker.post(`/work-requests/${id}/logs`, { entries: [{ seq: 4, ts, stream: 'stdout', text: 'out three\n' }] });
    await eventually(() => following.stdoutSoFar().endsWith('out three\n'), '`logs -f` printed the new entry');
    await worker.post(`/work-requests/${id}/complete`, { result: 'success', output_data: {} });
    const followed = await following.done;
    expect(followed.code).toBe(0);
    expect(followed.stdout).toBe('out one\nout two\nout three\n');

    const bad = await cli(['logs', 'x1']);
    expect(bad.code).toBe(2);
  });
});

describe('worksched cancel', () => {
  test('cancels pending and running requests and says what they were; a completed one is refused', async () => {
    const pending = await submitRequest('to-cancel', '/bin/sleep', ['60']);
    const result = await cli(['cancel', String(pending)]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`cancelled ${pending} (was pending)\n`);
    expect((await admin.getWorkRequest(pending)).status).toBe('aborted');

    const worker = await registerWorker('cancel-worker');
    const running = await submitRequest('to-cancel-running', '/bin/sleep', ['60']);
    await claim(worker, running);
    expect((await admin.getWorkRequest(running)).status).toBe('running');
    const stopped = await cli(['cancel', String(running)]);
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toMatch(new RegExp(`^cancelled ${running} \\(was running\\); cancel-worker will stop it\\n$`));
    expect((await admin.getWorkRequest(running)).status).toBe('aborted');

    const done = await submitRequest('done', '/bin/true');
    await claim(worker, done);
    await worker.post(`/work-requests/${done}/complete`, { result: 'success', output_data: {} });
    const refused = await cli(['cancel', String(done)]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`^worksched: cannot cancel ${done}: [^\\n]*already completed[^\\n]*\\n$`));
    expect((await admin.getWorkRequest(done)).status).toBe('completed');

    const typo = await cli(['cancel', String(done), 'abc']);
    expect(typo.code).toBe(2);
    expect(typo.stdout).toBe('');
  });
});

describe('worksched token create', () => {
  test('prints only the token, which works for client calls; worker tokens are refused', async () => {
    const result = await cli(['token', 'create', '--role', 'client', '--name', 'ci']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^\S+\n$/);
    expect(result.stderr).toMatch(/shown only this once/);
    const token = result.stdout.trim();

    const asClient = new WorkschedClient({ baseUrl: server.url, token });
    await expect(asClient.listWorkRequests({ limit: 1 })).resolves.toMatchObject({ work_requests: expect.any(Array) });
    // A client token is a client token: not an operator one.
    await expect(asClient.listWorkers()).rejects.toMatchObject({ status: 403 });
    const viaCli = await cli(['show', '--limit', '1'], { token });
    expect(viaCli.code).toBe(0);

    const worker = await cli(['token', 'create', '--role', 'worker']);
    expect(worker.code).toBe(2);
    expect(worker.stdout).toBe('');
    expect(worker.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(worker.stderr).toMatch(/^worksched: worker tokens are not created here/);

    const noRole = await cli(['token', 'create']);
    expect(noRole.code).toBe(2);

    const unknownToken = await cli(['show'], { token: 'wst_not-a-real-token' });
    expect(unknownToken.code).toBe(1);
    expect(unknownToken.stderr).toMatch(/--token or WORKSCHED_TOKEN/);
  });
});

describe('worksched workers', () => {
  test('lists a worker registered through the HTTP API, with its resources in human units', async () => {
    const worker = await registerWorker('table-worker-1');
    const result = await cli(['workers']);
    expect(result.code).toBe(0);
    const row = result.stdout.split('\n').find((line) => line.includes('table-worker-1'));
    expect(row).toBeDefined();
    expect(row).toContain(` ${worker.id} `);
    expect(row).toContain('idle');
    expect(row).toContain('0/4');
    expect(row).toContain('8.0 GiB');
    expect(row).toContain('100.0 GiB');
    expect(row).toContain('linux');

    const json = JSON.parse((await cli(['workers', '--json'])).stdout) as Array<{ id: number; name: string }>;
    expect(json.find((entry) => entry.id === worker.id)?.name).toBe('table-worker-1');

    const token = (await admin.createToken('client')).token;
    const forbidden = await cli(['workers'], { token });
    expect(forbidden.code).toBe(1);
    expect(forbidden.stderr).toMatch(/^worksched: .*operator/);
  });
});
