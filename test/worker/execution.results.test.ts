import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { outputDataSchema } from '../../protocol';
import { makeRequest, NODE, removeWorkRoots, run, workRoot } from './helpers';

jest.setTimeout(30_000);
afterAll(removeWorkRoots);

describe('startTask results', () => {
  test('exit 0 is success, with statistics and system lines', async () => {
    const { outcome, stdout, system, task } = await run(makeRequest({ executable: 'sh', args: ['-c', 'echo hello; echo oops >&2'] }));
    expect(outcome.result).toBe('success');
    expect(outcome.output_data.errors).toBeUndefined();
    expect(outputDataSchema.parse(outcome.output_data)).toEqual(outcome.output_data);
    const stats = outcome.output_data.runtime_statistics!;
    expect(stats).toMatchObject({ duration: 0, available_disk_space: 10_000 * 1024 * 1024, available_memory: 1000 * 1024 * 1024, cpu_count: 2 });
    expect(['cgroup-v2', 'cgroup-v1', 'proc']).toContain(stats.measurement);
    expect(stats.cpu_time_ms).toEqual(expect.any(Number));
    expect(stats.memory).toBeGreaterThan(0);
    expect(stdout).toBe('hello\n');
    expect(system).toMatch(new RegExp(`started pid ${task.pid}: \\S*sh \\(measurement: ${stats.measurement}\\)`));
    expect(system).toMatch(/exited with code 0/);
    expect(existsSync(task.workdir)).toBe(false); // deleted by default
  });

  test('non-zero exit is failure with exit_code', async () => {
    const { outcome, stderr } = await run(makeRequest({ executable: 'sh', args: ['-c', 'echo bad >&2; exit 3'] }));
    expect(stderr).toBe('bad\n');
    expect(outcome.result).toBe('failure');
    expect(outcome.output_data.errors).toEqual([{ code: 'exit_code', message: 'exited with code 3', exit_code: 3 }]);
  });

  test('a task that itself exits 127 or 126 stays a failure, not a start error', async () => {
    for (const code of [127, 126]) {
      const { outcome } = await run(makeRequest({ executable: 'sh', args: ['-c', `echo "sh: 1: exec: /x: not found" >&2; exit ${code}`] }));
      expect(outcome.result).toBe('failure');
      expect(outcome.output_data.errors?.[0]).toMatchObject({ code: 'exit_code', exit_code: code });
    }
  });

  test('killed by a signal is failure with the signal name', async () => {
    const { outcome } = await run(makeRequest({ executable: 'sh', args: ['-c', 'kill -SEGV $$'] }));
    expect(outcome.result).toBe('failure');
    expect(outcome.output_data.errors).toEqual([{ code: 'signal', message: 'killed by signal SIGSEGV', signal: 'SIGSEGV' }]);
  });

  test('a missing executable is an error naming the path', async () => {
    const absolute = await run(makeRequest({ executable: '/nonexistent/dir/prog' }));
    expect(absolute.outcome.result).toBe('error');
    expect(absolute.outcome.output_data.errors).toEqual([{ code: 'executable_not_found', message: expect.stringContaining('/nonexistent/dir/prog') }]);
    expect(absolute.task.pid).toBeUndefined();

    const bare = await run(makeRequest({ executable: 'no-such-program-worksched' }));
    expect(bare.outcome.result).toBe('error');
    expect(bare.outcome.output_data.errors?.[0]).toMatchObject({ code: 'executable_not_found', message: expect.stringContaining('no-such-program-worksched') });
  });

  test('a non-executable file or a directory is permission_denied', async () => {
    const root = workRoot();
    const script = join(root, 'not-executable.sh');
    writeFileSync(script, '#!/bin/sh\necho hi\n');
    chmodSync(script, 0o644);
    const file = await run(makeRequest({ executable: script }), { workRoot: root });
    expect(file.outcome.result).toBe('error');
    expect(file.outcome.output_data.errors).toEqual([{ code: 'permission_denied', message: expect.stringContaining(script) }]);

    const dir = join(root, 'a-dir');
    mkdirSync(dir);
    const directory = await run(makeRequest({ executable: dir }), { workRoot: root });
    expect(directory.outcome.output_data.errors?.[0]).toMatchObject({ code: 'permission_denied', message: expect.stringContaining(dir) });
  });

  test('parameters, env, WORKSCHED_TASK_FILE, cwd and stdin reach the task', async () => {
    const root = workRoot();
    const script = [
      'const fs = require("fs");',
      'let stdin = "";',
      'try { stdin = fs.readFileSync(0, "utf8"); } catch (e) { stdin = "error " + e.code; }',
      'console.log(JSON.stringify({',
      '  argv: process.argv.slice(1), cwd: process.cwd(), stdin,',
      '  env: { FOO: process.env.FOO, ID: process.env.WORKSCHED_WORK_REQUEST_ID, FILE: process.env.WORKSCHED_TASK_FILE, PATH: process.env.PATH },',
      '  task: JSON.parse(fs.readFileSync(process.env.WORKSCHED_TASK_FILE, "utf8")),',
      '}));',
    ].join('\n');
    const request = makeRequest({
      executable: NODE,
      args: ['-e', script, '--'],
      parameters: { alpha: 1, beta: 'two words', gamma: true, input: 'in.txt', level: 5 },
      parameter_mapping: { input: '', level: '-l' },
      env: { FOO: 'bar ✓' },
    });
    const { outcome, stdout, task } = await run(request, { workRoot: root, keepWorkdir: true });
    expect(outcome.result).toBe('success');
    // What the script above prints about itself.
    const seen = JSON.parse(stdout) as { argv: string[]; cwd: string; stdin: string; env: Record<string, string>; task: unknown };
    expect(seen.argv).toEqual(['--alpha=1', '--beta=two words', '--gamma=true', 'in.txt', '-l', '5']);
    expect(seen.cwd).toBe(task.workdir);
    expect(task.workdir.startsWith(join(root, `wr-${request.id}-a1-`))).toBe(true);
    expect(seen.stdin).toBe(''); // /dev/null
    // The worker's PATH, less the node_modules/.bin entries an npm script (npx jest) put in front of it.
    const expectedPath = process.env.npm_lifecycle_event === undefined
      ? process.env.PATH
      : process.env.PATH!.split(':').filter((entry) => !entry.endsWith('/node_modules/.bin') && !entry.endsWith('/node-gyp-bin')).join(':');
    expect(seen.env).toMatchObject({ FOO: 'bar ✓', ID: String(request.id), PATH: expectedPath });
    expect(seen.task).toEqual(request);
    expect(existsSync(task.workdir)).toBe(true); // keepWorkdir
    expect(JSON.parse(readFileSync(seen.env.FILE, 'utf8'))).toEqual(request);
  });

  test("only allowlisted and --pass-env variables of the worker reach the task, never its credentials; the spec may still set any variable", async () => {
    const saved = { ...process.env };
    process.env.WORKSCHED_ENROLLMENT_TOKEN = 'wst_secret_enrollment';
    process.env.WORKSCHED_WORKER_TOKEN = 'wst_secret_worker';
    process.env.WORKSCHED_WORK_DIR = '/some/dir';
    process.env.DATABASE_URL = 'postgres://user:password@db/worksched';
    process.env.npm_config_cache = '/root/.npm';
    process.env.LC_TIME = 'C.UTF-8';
    try {
      const request = makeRequest({ executable: 'env', env: { WORKSCHED_CUSTOM_TOKEN: 'mine' } });
      const plain = (await run(request)).stdout;
      expect(plain).not.toContain('wst_secret');
      expect(plain).not.toMatch(/^(WORKSCHED_WORK_DIR|DATABASE_URL|npm_config_cache)=/m);
      expect(plain).toMatch(/^LC_TIME=C\.UTF-8$/m);
      expect(plain).toMatch(/^WORKSCHED_CUSTOM_TOKEN=mine$/m);

      const passed = (await run(request, { passEnv: ['WORKSCHED_WORK_DIR', 'DATABASE_URL', 'WORKSCHED_WORKER_TOKEN'] })).stdout;
      expect(passed).toMatch(/^WORKSCHED_WORK_DIR=\/some\/dir$/m);
      expect(passed).toMatch(/^DATABASE_URL=postgres:/m);
      expect(passed).not.toContain('wst_secret');
    } finally {
      process.env = saved;
    }
  });

  test('a worker without PATH gives its tasks the standard one', async () => {
    const saved = { ...process.env };
    delete process.env.PATH;
    try {
      const { outcome, stdout } = await run(makeRequest({ executable: '/bin/sh', args: ['-c', 'echo "$PATH"'] }));
      expect(outcome.result).toBe('success');
      expect(stdout).toBe('/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n');
    } finally {
      process.env = saved;
    }
  });

  test('multi-byte characters written one byte at a time arrive whole', async () => {
    const script = 'const b = Buffer.from("héllo ✓ 🎉\\n"); (async () => { for (const x of b) { process.stdout.write(Buffer.from([x])); await new Promise(r => setTimeout(r, 2)); } })();';
    const { outcome, stdout } = await run(makeRequest({ executable: NODE, args: ['-e', script] }));
    expect(outcome.result).toBe('success');
    expect(stdout).toBe('héllo ✓ 🎉\n');
  });

  test('a relative executable path is resolved in the task working directory', async () => {
    const { outcome } = await run(makeRequest({ executable: './missing.sh' }));
    expect(outcome.result).toBe('error');
    expect(outcome.output_data.errors?.[0].code).toBe('executable_not_found');
  });
});
