/**
 * `worksched start` (what `npm start` runs: the server and one local worker) as a user runs it: on a
 * pseudo-terminal, stopped with Ctrl-C, which the terminal sends to the whole foreground process group.
 * One Ctrl-C drains (the running task finishes and is recorded once), a second stops at once and hands the
 * task back. Also: the environment its tasks see, and a second instance on the same data dir or port.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { WorkschedClient } from '../../client';
import type { WorkRequest } from '../../protocol/workRequest';
import { compileServerConfig } from '../../server/config';
import { startServer, type RunningServer } from '../../server/startServer';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { TerminalProcess, terminalUnavailableReason } from '../helpers/terminalProcess';
import { childEnv, CLI, ManagedProcess, REPO_ROOT } from '../helpers/workerProcess';
import { cleanup, logText, RUN_TAG_ENTRY, shellTask, sleep, tmpDir, uniqueName, waitForRequest, waitForTaskProcesses, waitUntilTaskGone, withProcessLogs } from './support';

const noTerminal = terminalUnavailableReason();
const terminals: TerminalProcess[] = [];
const databases: TestDatabase[] = [];
const readers: RunningServer[] = [];

afterAll(async () => {
  for (const terminal of terminals) terminal.kill();
  await cleanup(...readers.map((server) => ({ close: () => server.close() })));
  for (const db of databases) await db.drop();
});

/** As under `npm start`: npm's variables, node_modules/.bin first in PATH, a database password and a stray secret. */
function startEnv(databaseUrl: string): NodeJS.ProcessEnv {
  return childEnv({
    DATABASE_URL: databaseUrl,
    LOG_FORMAT: 'json',
    PATH: `${path.join(REPO_ROOT, 'node_modules', '.bin')}:${process.env.PATH}`,
    npm_lifecycle_event: 'start',
    npm_package_name: 'worksched',
    npm_config_user_agent: 'npm/11 node/v20',
    SHELL_SECRET: 'must-not-reach-tasks',
    // Marks start and its worker for cleanup's kill of tagged processes (tasks get the tag from their spec).
    WORKSCHED_E2E_RUN: RUN_TAG_ENTRY.split('=')[1],
  });
}

async function startOnTerminal(dataDir: string, databaseUrl: string): Promise<{ terminal: TerminalProcess; client: WorkschedClient; url: string }> {
  const terminal = new TerminalProcess('worksched start', [process.execPath, CLI, 'start', '--port', '0', '--data-dir', dataDir, '--concurrency', '1'], {
    cwd: REPO_ROOT,
    env: startEnv(databaseUrl),
  });
  terminals.push(terminal);
  const url = (await terminal.waitForText(/worksched server ready at (http:\/\/\S+)/))[1];
  const credentials = JSON.parse(fs.readFileSync(path.join(dataDir, 'credentials.json'), 'utf8')) as { admin_token: string };
  return { terminal, url, client: new WorkschedClient({ baseUrl: url, token: credentials.admin_token }) };
}

/** After start has stopped, the same database through a server in this process. */
async function readerOf(db: TestDatabase): Promise<WorkschedClient> {
  const server = await startServer(compileServerConfig({ databaseUrl: db.url, port: 0, dataDir: tmpDir('reader'), logLevel: 'silent', heartbeatTimeoutS: 3600 }, {}));
  readers.push(server);
  return new WorkschedClient({ baseUrl: server.url, token: server.adminToken });
}

async function requestsOfTask(client: WorkschedClient, taskName: string): Promise<WorkRequest[]> {
  return (await client.listWorkRequests({ task_name: taskName, limit: 100 })).work_requests;
}

async function freshDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  databases.push(db);
  return db;
}

const onTerminal = noTerminal ? test.skip : test;
if (noTerminal) process.stdout.write(`skipping the Ctrl-C tests: ${noTerminal}\n`);

describe('Ctrl-C on the terminal of worksched start', () => {
  onTerminal('one Ctrl-C drains: the running task finishes, is recorded once, and the last line says what stopped; tasks get a clean environment', withProcessLogs(async () => {
    const db = await freshDatabase();
    const dataDir = tmpDir('start');
    const { terminal, client } = await startOnTerminal(dataDir, db.url);
    const taskName = uniqueName('ctrl-c');
    const created = await client.createWorkRequest(shellTask('echo begin; sleep 3; env; echo end', { task_name: taskName, env: { FROM_SPEC: 'yes' } }));
    await waitForRequest(client, created.id, (request) => request.status === 'running', 'running', 30_000);
    await waitForTaskProcesses(created.id, 10_000);

    const pressedAt = performance.now();
    terminal.pressCtrlC();
    const exit = await terminal.waitForExit(30_000);
    const stoppedAfterMs = performance.now() - pressedAt;
    process.stdout.write(`one Ctrl-C with a 3 s task running: worksched start exited after ${Math.round(stoppedAfterMs)} ms\n`);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(terminal.lines().at(-1)).toBe(
      'worksched: stopped the local worker (1 running task(s) finished, 0 handed back to the server), and the server',
    );
    expect(terminal.output()).not.toMatch(/killing running tasks/);

    const reader = await readerOf(db);
    const requests = await requestsOfTask(reader, taskName);
    expect(requests.map((request) => ({ id: request.id, status: request.status, result: request.result, attempt: request.attempt }))).toEqual([
      { id: created.id, status: 'completed', result: 'success', attempt: 1 },
    ]);
    const { stdout } = await logText(reader, created.id);
    expect(stdout.match(/^begin$/gm)).toHaveLength(1);
    expect(stdout.match(/^end$/gm)).toHaveLength(1);

    const names = stdout.split('\n').filter((line) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(line)).map((line) => line.slice(0, line.indexOf('=')));
    expect(names).toEqual(expect.arrayContaining(['PATH', 'HOME', 'FROM_SPEC', 'WORKSCHED_WORK_REQUEST_ID', 'WORKSCHED_TASK_FILE']));
    expect(names).not.toContain('DATABASE_URL');
    expect(names).not.toContain('SHELL_SECRET');
    expect(names).not.toContain('LOG_FORMAT');
    expect(names.filter((name) => name.startsWith('npm_'))).toEqual([]);
    expect(names.filter((name) => /TOKEN/.test(name))).toEqual([]);
    const taskPath = /^PATH=(.*)$/m.exec(stdout)![1];
    expect(taskPath.split(':').filter((entry) => entry.includes('node_modules'))).toEqual([]);
  }), 120_000);

  onTerminal('a second Ctrl-C stops at once: the task is killed and handed back (requeued), exit 130', withProcessLogs(async () => {
    const db = await freshDatabase();
    const dataDir = tmpDir('start');
    const { terminal, client } = await startOnTerminal(dataDir, db.url);
    const created = await client.createWorkRequest(shellTask('sleep 60', { interrupt_allowed: true }));
    await waitForRequest(client, created.id, (request) => request.status === 'running', 'running', 30_000);
    await waitForTaskProcesses(created.id, 10_000);

    terminal.pressCtrlC();
    await terminal.waitForText(/draining \(no new work/, 10_000); // the worker began its drain
    const pressedAt = performance.now();
    terminal.pressCtrlC();
    const exit = await terminal.waitForExit(20_000);
    const stoppedAfterMs = performance.now() - pressedAt;
    process.stdout.write(`second Ctrl-C with a 60 s task running: worksched start exited after ${Math.round(stoppedAfterMs)} ms\n`);
    expect(exit).toEqual({ code: 130, signal: null });
    expect(stoppedAfterMs).toBeLessThan(10_000);
    expect(terminal.lines().at(-1)).toBe('worksched: stopped the local worker (0 running task(s) finished, 1 handed back to the server), and the server');
    await waitUntilTaskGone(created.id, 5_000);

    const reader = await readerOf(db);
    expect(await reader.getWorkRequest(created.id)).toMatchObject({ status: 'pending', attempt: 2, worker: null });
    await reader.cancel(created.id);
  }), 120_000);
});

describe('a second instance', () => {
  test('on the same data dir refuses, naming the first one\'s URL, and leaves credentials.json as it was; on the same port it says worksched runs there', withProcessLogs(async () => {
    const db = await freshDatabase();
    const dataDir = tmpDir('start');
    const first = new ManagedProcess('first start', ['start', '--port', '0', '--data-dir', dataDir, '--concurrency', '1'], startEnv(db.url));
    const url = /worksched server ready at (http:\/\/\S+)/.exec(await first.waitForLine(/worksched server ready at http/, 60_000))![1];
    const credentialsFile = path.join(dataDir, 'credentials.json');
    const before = fs.readFileSync(credentialsFile, 'utf8');
    const lock = JSON.parse(fs.readFileSync(path.join(dataDir, 'server.lock'), 'utf8')) as { pid: number; url: string };
    expect(lock).toMatchObject({ pid: first.pid, url });

    for (const command of ['start', 'server']) {
      const second = new ManagedProcess(`second ${command}`, [command, '--port', '0', '--data-dir', dataDir], startEnv(db.url));
      const exit = await second.waitForExit(30_000);
      expect(exit).toEqual({ code: 1, signal: null });
      expect(second.output()).toContain(`worksched is already running on data dir ${dataDir} at ${url} (pid ${first.pid})`);
    }
    expect(fs.readFileSync(credentialsFile, 'utf8')).toBe(before);

    const port = new URL(url).port;
    const samePort = new ManagedProcess('same port', ['server', '--port', port, '--data-dir', tmpDir('other')], startEnv(db.url));
    expect(await samePort.waitForExit(30_000)).toEqual({ code: 1, signal: null });
    expect(samePort.output()).toContain(`worksched is already running at ${url} (port ${port} is taken)`);

    // The first one is untouched and still serves.
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);

    // / is the dashboard for a browser (its login page points at the API, the health check and the CLI), links for API clients.
    const home = await fetch(`${url}/`, { headers: { accept: 'application/json' } });
    expect(home.status).toBe(200);
    expect(await home.json()).toMatchObject({ service: 'worksched', openapi: '/api/v1/openapi.json', health: '/healthz' });
    const page = await fetch(`${url}/`, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain('href="/api/v1/openapi.json"');
    expect(html).toContain('href="/healthz"');
    expect(html).toContain('npx worksched');
    // Its scripts come from this package (dist/ when the build is current, else the sources through swc), uPlot from node_modules.
    for (const asset of ['/dashboard/app/main.js', '/dashboard/app/pages/overview.js', '/dashboard/vendor/uPlot.esm.js']) {
      const answer = await fetch(`${url}${asset}`);
      expect({ asset, status: answer.status, type: answer.headers.get('content-type') }).toEqual({ asset, status: 200, type: expect.stringMatching(/^text\/javascript/) });
      expect(await answer.text()).toMatch(/\bexport\b|\bimport\b/);
    }

    // A plain SIGTERM (not a terminal) drains too, and the lock goes with the instance.
    first.signal('SIGTERM');
    expect(await first.waitForExit(30_000)).toEqual({ code: 0, signal: null });
    expect(first.output()).toMatch(/worksched: stopped the local worker \(0 running task\(s\) finished, 0 handed back to the server\), and the server\n?/);
    expect(fs.existsSync(path.join(dataDir, 'server.lock'))).toBe(false);
  }), 120_000);

  test('after kill -9 of start, its worker drains and exits; the next start takes over the lock and gets the result', withProcessLogs(async () => {
    const db = await freshDatabase();
    const dataDir = tmpDir('start');
    const first = new ManagedProcess('start to be killed', ['start', '--port', '0', '--data-dir', dataDir, '--concurrency', '1'], startEnv(db.url));
    const url = /worksched server ready at (http:\/\/\S+)/.exec(await first.waitForLine(/worksched server ready at http/, 60_000))![1];
    const credentials = JSON.parse(fs.readFileSync(path.join(dataDir, 'credentials.json'), 'utf8')) as { admin_token: string };
    const client = new WorkschedClient({ baseUrl: url, token: credentials.admin_token });
    const created = await client.createWorkRequest(shellTask('sleep 2; echo done'));
    await waitForRequest(client, created.id, (request) => request.status === 'running', 'running', 30_000);
    await waitForTaskProcesses(created.id, 10_000);

    process.kill(first.pid, 'SIGKILL'); // start only: its worker is in a process group of its own
    await first.waitForExit(5_000);
    // The worker writes to the pipe it shares with start, which stays open while the worker lives.
    const stoppedLine = /worker stopped: 1 task\(s\) finished, 0 handed back to the server; 1 report\(s\) kept on disk/;
    for (const deadline = Date.now() + 20_000; !stoppedLine.test(first.output()); await sleep(100)) {
      if (Date.now() > deadline) throw new Error('the orphaned worker did not drain and stop within 20 s');
    }
    await waitUntilTaskGone(created.id, 5_000);

    const second = new ManagedProcess('start again', ['start', '--port', '0', '--data-dir', dataDir, '--concurrency', '1'], startEnv(db.url));
    const secondUrl = /worksched server ready at (http:\/\/\S+)/.exec(await second.waitForLine(/worksched server ready at http/, 60_000))![1];
    const again = new WorkschedClient({ baseUrl: secondUrl, token: credentials.admin_token });
    const done = await waitForRequest(again, created.id, (request) => request.status === 'completed', 'completed from the outbox', 30_000);
    expect(done).toMatchObject({ result: 'success', attempt: 1 });
    expect((await logText(again, created.id)).stdout).toBe('done\n');
    second.signal('SIGTERM');
    expect(await second.waitForExit(30_000)).toEqual({ code: 0, signal: null });
  }), 120_000);

  test('a lock left by a process that is gone is taken over', withProcessLogs(async () => {
    const db = await freshDatabase();
    const dataDir = tmpDir('start');
    const gone = spawnSync('/bin/sh', ['-c', 'echo $$'], { encoding: 'utf8' });
    const deadPid = Number(gone.stdout.trim());
    fs.writeFileSync(path.join(dataDir, 'server.lock'), JSON.stringify({ pid: deadPid, process_start: null, url: 'http://127.0.0.1:1', started_at: new Date().toISOString() }));
    const server = new ManagedProcess('server after a crash', ['server', '--port', '0', '--data-dir', dataDir], startEnv(db.url));
    await server.waitForLine(/worksched server ready at http/, 60_000);
    expect(JSON.parse(fs.readFileSync(path.join(dataDir, 'server.lock'), 'utf8'))).toMatchObject({ pid: server.pid });
    server.signal('SIGTERM');
    expect(await server.waitForExit(30_000)).toEqual({ code: 0, signal: null });
  }), 120_000);
});
