/**
 * What a user sees once a task ran on a real worker: the result and the error that explains it, and the
 * parameters and environment of the spec reaching the task.
 */
import type { WorkerProcess } from '../helpers/workerProcess';
import { cleanup, logText, shellTask, startServerAndWorker, task, waitForEnd, withProcessLogs, type E2EServer } from './support';

let server: E2EServer;
let worker: WorkerProcess;

beforeAll(async () => ({ server, worker } = await startServerAndWorker({ concurrency: 2 })), 60_000);
afterAll(() => cleanup(server));

describe('results reported by a real worker', () => {
  it('exit code 0 is a success with no errors', withProcessLogs(async () => {
    const created = await server.client.createWorkRequest(shellTask('echo all good; exit 0'));
    const done = await waitForEnd(server.client, created.id);
    expect(done).toMatchObject({ status: 'completed', result: 'success' });
    expect(done.output_data?.errors ?? []).toEqual([]);
    expect(done.worker?.name).toBe(worker.options.name);
    expect((await logText(server.client, created.id)).stdout).toContain('all good');
  }));

  it('exit code 3 is a failure with an exit_code error', withProcessLogs(async () => {
    const created = await server.client.createWorkRequest(shellTask('echo failing >&2; exit 3'));
    const done = await waitForEnd(server.client, created.id);
    expect(done).toMatchObject({ status: 'completed', result: 'failure' });
    expect(done.output_data?.errors?.[0]).toMatchObject({ code: 'exit_code', exit_code: 3 });
    expect(done.state_reason).toMatch(/3/);
  }));

  it('a task killed by a signal is a failure with a signal error', withProcessLogs(async () => {
    const created = await server.client.createWorkRequest(shellTask('kill -SEGV $$; sleep 5'));
    const done = await waitForEnd(server.client, created.id);
    expect(done).toMatchObject({ status: 'completed', result: 'failure' });
    expect(done.output_data?.errors?.[0]).toMatchObject({ code: 'signal', signal: 'SIGSEGV' });
  }));

  it('a missing executable is an error with executable_not_found', withProcessLogs(async () => {
    const absolute = await server.client.createWorkRequest(task('/nonexistent/worksched-no-such-program'));
    const onPath = await server.client.createWorkRequest(task('worksched-no-such-program-on-path'));
    for (const id of [absolute.id, onPath.id]) {
      const done = await waitForEnd(server.client, id);
      expect(done).toMatchObject({ status: 'completed', result: 'error' });
      expect(done.output_data?.errors?.[0]).toMatchObject({ code: 'executable_not_found' });
      expect(done.output_data?.errors?.[0].message).toContain('worksched-no-such-program');
    }
    // The worker is still fine after those.
    const after = await server.client.createWorkRequest(shellTask('exit 0'));
    expect(await waitForEnd(server.client, after.id)).toMatchObject({ result: 'success' });
  }));

  it('args, parameters and env of the spec reach the task', withProcessLogs(async () => {
    const created = await server.client.createWorkRequest(
      task('/bin/sh', ['-c', 'for a in "$@"; do echo "arg=[$a]"; done; echo "env=[$GREETING]"; echo "cwd=[$(pwd)]"', 'sh', 'first arg'], {
        parameters: { size: 10, mode: 'fast lane', verbose: true },
        parameter_mapping: { mode: '--mode', verbose: '' },
        env: { GREETING: 'hello world' },
      }),
    );
    const done = await waitForEnd(server.client, created.id);
    expect(done).toMatchObject({ status: 'completed', result: 'success' });
    const { stdout } = await logText(server.client, created.id);
    const args = [...stdout.matchAll(/^arg=\[(.*)\]$/gm)].map((match) => match[1]);
    // args first, as given; then one flag per parameter (their order is checked in the next test).
    expect(args[0]).toBe('first arg');
    expect(args).toHaveLength(5);
    expect(args).toContain('--size=10');
    expect(args).toContain('true');
    const mode = args.indexOf('--mode');
    expect(mode).toBeGreaterThan(0);
    expect(args[mode + 1]).toBe('fast lane');
    expect(stdout).toMatch(/^env=\[hello world\]$/m);
    // Each task runs in a fresh directory of its own under the worker's work dir.
    const cwd = /^cwd=\[(.*)\]$/m.exec(stdout)?.[1];
    expect(cwd).toBeDefined();
    expect(cwd!.startsWith(worker.options.workDir + '/')).toBe(true);
    expect(cwd).toContain(String(created.id));
  }));

  it("the worker's own credentials do not reach the task's environment", withProcessLogs(async () => {
    // The worker was started with WORKSCHED_ENROLLMENT_TOKEN in its environment (the documented way); a task
    // is someone else's code and must not be able to read it (and register workers of its own).
    const created = await server.client.createWorkRequest(shellTask('env'));
    const done = await waitForEnd(server.client, created.id);
    expect(done).toMatchObject({ status: 'completed', result: 'success' });
    const { stdout } = await logText(server.client, created.id);
    expect(stdout).toContain('WORKSCHED_WORK_REQUEST_ID=');
    const leaked = stdout.split('\n').filter((line) => line.includes(server.enrollmentToken) || /^WORKSCHED_[A-Z_]*TOKEN=/.test(line));
    expect(leaked).toEqual([]);
  }));

  it('positional parameters reach the task in the order the spec gives them', withProcessLogs(async () => {
    // `cp SOURCE DEST`-like tools: parameter_mapping "" makes a parameter positional, so the order is meaning.
    const created = await server.client.createWorkRequest(
      task('/bin/sh', ['-c', 'for a in "$@"; do echo "arg=[$a]"; done', 'sh'], {
        parameters: { source: 'from.txt', dest: 'to.txt' },
        parameter_mapping: { source: '', dest: '' },
      }),
    );
    const done = await waitForEnd(server.client, created.id);
    expect(done).toMatchObject({ status: 'completed', result: 'success' });
    const { stdout } = await logText(server.client, created.id);
    const args = [...stdout.matchAll(/^arg=\[(.*)\]$/gm)].map((match) => match[1]);
    expect(args).toEqual(['from.txt', 'to.txt']);
  }));
});
