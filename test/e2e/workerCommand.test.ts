/**
 * `worksched worker` as an operator starts it: the enrollment token from a file or `token show enrollment`,
 * plain messages for a missing server URL or a refused token, --pass-env, and a worker whose output pipe
 * closes (`worksched worker 2>&1 | tee w.log`, tee gone) still stopping on SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { childEnv, CLI, ManagedProcess, processesWithEnvEntries, REPO_ROOT, startWorkerProcess } from '../helpers/workerProcess';
import { cleanup, logText, shellTask, startE2EServer, tmpDir, uniqueName, waitForEnd, withProcessLogs, type E2EServer } from './support';

let server: E2EServer;
const spawned: ChildProcess[] = [];

beforeAll(async () => {
  server = await startE2EServer();
}, 60_000);

afterAll(async () => {
  for (const child of spawned) {
    try {
      if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  await cleanup(server);
});

/** The CLI once, to its end. */
async function runCli(label: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  const run = new ManagedProcess(label, args, childEnv(env));
  const exit = await run.waitForExit(30_000);
  expect(exit).not.toBeNull();
  return { code: exit!.code, output: run.output() };
}

describe('worksched worker messages', () => {
  test('without --server it says how to give one, not a zod message; a URL without scheme is named', async () => {
    const missing = await runCli('worker without --server', ['worker', '--work-dir', tmpDir('worker')]);
    expect(missing.code).toBe(2);
    expect(missing.output).toContain('no server to connect to: pass --server http://HOST:8080 or set WORKSCHED_URL');
    expect(missing.output).not.toMatch(/Invalid input|expected string/);

    const schemeless = await runCli('worker --server localhost:8080', ['worker', '--server', 'localhost:8080', '--work-dir', tmpDir('worker')]);
    expect(schemeless.code).toBe(2);
    expect(schemeless.output).toContain('--server must be an http:// or https:// URL such as http://localhost:8080, got "localhost:8080"');
  });

  test('a refused enrollment token is named as such, without pointing at --token or WORKSCHED_TOKEN', withProcessLogs(async () => {
    const worker = startWorkerProcess({ server: server.url, name: uniqueName('wrong'), workDir: tmpDir('worker'), enrollmentToken: 'wst_not-the-enrollment-token' });
    const exit = await worker.waitForExit(20_000);
    expect(exit).toEqual({ code: 1, signal: null });
    expect(worker.output()).toContain(`${server.url} refused the enrollment token`);
    expect(worker.output()).toContain('worksched token show enrollment');
    expect(worker.output()).not.toMatch(/(^|[\s(])--token\b|WORKSCHED_TOKEN\b/);
  }));
});

describe('the enrollment token off the command line', () => {
  test('`token show enrollment` prints it from the server\'s data dir; the worker registers with --enrollment-token-file; --pass-env passes only what it names', withProcessLogs(async () => {
    const dataDir = path.dirname(server.running.credentialsFile);
    const shown = await runCli('token show enrollment', ['token', 'show', 'enrollment', '--data-dir', dataDir]);
    expect(shown).toMatchObject({ code: 0 });
    expect(shown.output.split('\n')[0]).toBe(`[stdout] ${server.enrollmentToken}`);

    const nowhere = await runCli('token show enrollment (no server here)', ['token', 'show', 'enrollment', '--data-dir', tmpDir('empty')]);
    expect(nowhere.code).toBe(2);
    expect(nowhere.output).toContain('worksched token create --role enrollment');

    const tokenFile = path.join(tmpDir('secrets'), 'enrollment');
    fs.writeFileSync(tokenFile, `${server.enrollmentToken}\n`, { mode: 0o600 });
    const name = uniqueName('from-file');
    const worker = await startWorkerProcess({
      server: server.url,
      name,
      workDir: tmpDir('worker'),
      extraArgs: ['--enrollment-token-file', tokenFile, '--pass-env', 'PASSED_ON', '--pass-env', 'WORKSCHED_WORKER_TOKEN'],
      env: { PASSED_ON: 'one', NOT_PASSED: 'two' },
    }).waitForExit(20_000);
    // A worker's credentials are refused by name before anything starts.
    expect(worker).toEqual({ code: 2, signal: null });

    const running = await startWorkerProcess({
      server: server.url,
      name,
      workDir: tmpDir('worker'),
      extraArgs: ['--enrollment-token-file', tokenFile, '--pass-env', 'PASSED_ON'],
      env: { PASSED_ON: 'one', NOT_PASSED: 'two' },
    }).ready();
    expect(running.options.enrollmentToken).toBeUndefined();
    expect(running.records().some((record) => record.msg === `registered as worker ${String(record.workerId)} (${name})`)).toBe(true);
    const created = await server.client.createWorkRequest(shellTask('env'));
    expect(await waitForEnd(server.client, created.id)).toMatchObject({ status: 'completed', result: 'success', worker: { name } });
    const { stdout } = await logText(server.client, created.id);
    expect(stdout).toMatch(/^PASSED_ON=one$/m);
    expect(stdout).not.toMatch(/^NOT_PASSED=/m);
    expect(stdout).not.toMatch(/^LOG_LEVEL=/m);
    await running.stop('SIGTERM');
  }));
});

describe('a worker whose output pipe closes', () => {
  /**
   * `worksched worker … 2>&1 | head -c 1` through a shell, so the output is a real pipe: head reads one byte
   * and exits, and the worker's next write (its shutdown lines) meets EPIPE. An asynchronous log stream then
   * flushed for ever at exit, often enough (one run in four) for three workers to catch it.
   */
  async function startPipedWorker(drainTimeoutS: number): Promise<{ pid: number; done: Promise<string> }> {
    const name = uniqueName('piped');
    const marker = `WORKSCHED_E2E_PIPED=${name}`;
    const exitFile = path.join(tmpDir('piped'), 'exit-code');
    const pipeline = spawn(
      '/bin/sh',
      ['-c', '{ "$@"; echo $? > "$EXIT_FILE"; } 2>&1 | head -c 1', 'sh', process.execPath, CLI, 'worker', '--server', server.url, '--name', name, '--work-dir', tmpDir('worker'), '--drain-timeout', String(drainTimeoutS)],
      {
        cwd: REPO_ROOT,
        env: childEnv({ WORKSCHED_ENROLLMENT_TOKEN: server.enrollmentToken, LOG_FORMAT: 'json', EXIT_FILE: exitFile, WORKSCHED_E2E_PIPED: name }),
        detached: true,
        stdio: 'ignore',
      },
    );
    spawned.push(pipeline);
    const done = new Promise<string>((resolve) => pipeline.once('exit', () => resolve(fs.existsSync(exitFile) ? fs.readFileSync(exitFile, 'utf8').trim() : 'no exit code')));
    const node = fs.realpathSync(process.execPath);
    const members = () => processesWithEnvEntries([marker]).map((pid) => ({ pid, exe: exeOf(pid) }));
    await eventually(() => members().some((member) => member.exe === node) && !members().some((member) => member.exe.endsWith('/head')), 'head has exited, the worker runs');
    await eventually(async () => (await server.client.listWorkers()).some((worker) => worker.name === name && worker.state === 'idle'), `worker ${name} is idle`);
    return { pid: members().find((member) => member.exe === node)!.pid, done };
  }

  test('stops within its drain time on SIGTERM', withProcessLogs(async () => {
    const drainTimeoutS = 5;
    const workers = await Promise.all([1, 2, 3].map(() => startPipedWorker(drainTimeoutS)));
    const signalledAt = performance.now();
    for (const worker of workers) process.kill(worker.pid, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const codes = await Promise.race([
      Promise.all(workers.map((worker) => worker.done)),
      new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still running'), (drainTimeoutS + 5) * 1000))),
    ]);
    clearTimeout(timer);
    const stoppedAfterMs = performance.now() - signalledAt;
    process.stdout.write(`3 workers with a closed output pipe: all exited ${Math.round(stoppedAfterMs)} ms after SIGTERM (drain timeout ${drainTimeoutS} s)\n`);
    expect(codes).toEqual(['0', '0', '0']);
    expect(stoppedAfterMs).toBeLessThan(drainTimeoutS * 1000);
  }), 60_000);

  test('a task started after the pipe closed still runs and is reported', withProcessLogs(async () => {
    const worker = await startPipedWorker(5);
    const created = await server.client.createWorkRequest(shellTask('echo working'));
    expect(await waitForEnd(server.client, created.id, 20_000)).toMatchObject({ status: 'completed', result: 'success', attempt: 1 });
    process.kill(worker.pid, 'SIGTERM');
    expect(await worker.done).toBe('0');
  }), 60_000);
});

function exeOf(pid: number): string {
  try {
    return fs.readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return '';
  }
}

async function eventually(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
