/**
 * Task isolation on a root worker: each task runs as an unprivileged user of its own, in a mode-700 directory
 * it owns; it cannot read the worker's identity file (its token), its outbox and spool, another task's
 * directory or processes, nor the DATABASE_URL of the worker's environment. Measurement and killing of the
 * task's process tree still work across the uid boundary.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { testIf, isRoot, readableByOthers } from '../helpers/capabilities';
import { pollUntil } from '../helpers/waitFor';
import { CLI, startWorkerProcess } from '../helpers/workerProcess';
import { lookUpUser } from '../../worker/taskUsers';
import { cleanup, logText, shellTask, startE2EServer, startWorker as startE2EWorker, tmpDir, uniqueName, waitForEnd, withProcessLogs, type E2EServer } from './support';

const testAsRoot = testIf(isRoot, 'only a root worker can run tasks as other users');
// The unprivileged worker is this checkout's CLI run as nobody: every directory above it must let others in.
const testAsRootWithReadableCheckout = testIf(isRoot && readableByOthers(CLI), 'needs root, and a checkout that other users can read (this one is under a directory they cannot enter)');
const SECRET_DATABASE_URL = 'postgresql://worksched:db-password-do-not-leak@127.0.0.1:1/worksched';

let server: E2EServer;
let workDir: string;

beforeAll(async () => {
  server = await startE2EServer();
  workDir = tmpDir('isolation');
  await startE2EWorker(server, { workDir, concurrency: 2, env: { DATABASE_URL: SECRET_DATABASE_URL } });
}, 60_000);
afterAll(() => cleanup(server));

/** `label: read` when the command succeeds, `label: denied` otherwise. */
const attempt = (label: string, command: string) => `if ${command} >/dev/null 2>&1; then echo "${label}: read"; else echo "${label}: denied"; fi`;

/** Waits until the text of `stream` of request `id` matches `pattern` and returns the match. */
async function waitForOutput(id: number, pattern: RegExp): Promise<RegExpExecArray> {
  return pollUntil(async () => pattern.exec((await logText(server.client, id)).stdout), { description: `output of ${id} matching ${pattern}`, timeoutMs: 30_000 });
}

const processAlive = (pid: number) => fs.existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));

testAsRoot('a task cannot read the worker\'s identity file, another task\'s directory or processes, nor DATABASE_URL', withProcessLogs(async () => {
  const identityFile = path.join(workDir, '.state', 'identity.json');
  expect(JSON.parse(fs.readFileSync(identityFile, 'utf8'))).toHaveProperty('token');
  expect(fs.statSync(path.join(workDir, '.state')).mode & 0o777).toBe(0o700);
  expect(fs.statSync(identityFile).mode & 0o777).toBe(0o600);

  // The neighbour: keeps a secret in its directory and a child process, and says where they are.
  const neighbour = await server.client.createWorkRequest(
    shellTask('echo neighbour-secret > secret.txt; sleep 300 & echo "dir=$PWD pid=$$ child=$! user=$(id -un) mode=$(stat -c %a .)"; wait'),
  );
  const [, neighbourDir, neighbourPid, childPid, neighbourUser, neighbourMode] = await waitForOutput(neighbour.id, /dir=(\S+) pid=(\d+) child=(\d+) user=(\S+) mode=(\d+)/);
  expect(neighbourUser).toMatch(/^worksched-task-\d+$/);
  expect(neighbourMode).toBe('700');
  expect(fs.statSync(neighbourDir).uid).not.toBe(0);

  const probe = await server.client.createWorkRequest(
    shellTask(
      [
        'echo "user=$(id -un) uid=$(id -u)"',
        attempt('identity', `cat ${identityFile}`),
        attempt('state dir', `ls ${path.join(workDir, '.state')}`),
        attempt('work dir listing', `ls ${workDir}`),
        attempt('neighbour dir', `ls ${neighbourDir}`),
        attempt('neighbour file', `cat ${neighbourDir}/secret.txt`),
        attempt('neighbour environ', `cat /proc/${neighbourPid}/environ`),
        attempt('neighbour signal', `kill -0 ${neighbourPid}`),
        'echo "database_url=${DATABASE_URL:-unset}"',
        'echo "home=$HOME"',
        'head -c 20000000 /dev/zero | tail -c 1 >/dev/null',
      ].join('\n'),
    ),
  );
  const done = await waitForEnd(server.client, probe.id);
  const { stdout } = await logText(server.client, probe.id);
  expect(done.result).toBe('success');
  const user = /user=(\S+) uid=(\d+)/.exec(stdout);
  expect(user?.[1]).toMatch(/^worksched-task-\d+$/);
  expect(user?.[1]).not.toBe(neighbourUser);
  for (const label of ['identity', 'state dir', 'work dir listing', 'neighbour dir', 'neighbour file', 'neighbour environ', 'neighbour signal']) {
    expect(stdout).toContain(`${label}: denied`);
  }
  expect(stdout).toContain('database_url=unset');
  expect(stdout).not.toContain('db-password-do-not-leak');
  expect(stdout).toMatch(new RegExp(`home=${workDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/wr-${probe.id}-`));
  // Measured across the uid boundary.
  expect(done.output_data?.runtime_statistics).toEqual(expect.objectContaining({ duration: expect.any(Number), memory: expect.any(Number), cpu_time: expect.any(Number) }));
  expect(done.output_data?.runtime_statistics?.memory).toBeGreaterThan(0);

  // Cancelling the neighbour kills its whole tree, though it runs as another user.
  expect(processAlive(Number(childPid))).toBe(true);
  await server.client.cancel(neighbour.id);
  await pollUntil(() => !processAlive(Number(neighbourPid)) && !processAlive(Number(childPid)), { description: 'the neighbour and its child to be killed', timeoutMs: 20_000 });
  await pollUntil(() => !fs.existsSync(neighbourDir), { description: 'the neighbour\'s directory to be removed', timeoutMs: 20_000 });
}), 90_000);

testAsRoot('--run-as USER runs every task as that user; an unknown user stops the worker with one line', withProcessLogs(async () => {
  // The flag wins over the environment; the tag sends the request to this worker.
  const named = await startE2EWorker(server, { extraArgs: ['--run-as', 'nobody', '--tags', 'run-as-nobody'], env: { WORKSCHED_RUN_AS: 'root' } });
  try {
    const created = await server.client.createWorkRequest(shellTask('id -un; stat -c %U .', { resources: { tags: ['run-as-nobody'] } }));
    const done = await waitForEnd(server.client, created.id);
    expect({ result: done.result, worker: done.worker?.name }).toEqual({ result: 'success', worker: named.options.name });
    expect((await logText(server.client, created.id)).stdout).toBe('nobody\nnobody\n');
  } finally {
    await named.stop();
  }
  const bad = startWorkerProcess({ server: server.url, name: uniqueName('bad-run-as'), workDir: tmpDir('bad-run-as'), enrollmentToken: server.enrollmentToken, extraArgs: ['--run-as', 'no-such-user-here'] });
  const exit = await bad.waitForExit(30_000);
  expect(exit?.code).toBe(2);
  expect(bad.output()).toMatch(/--run-as no-such-user-here: no such user/);
}), 90_000);

/** The worker CLI as an unprivileged user (root may spawn as anyone): its output once it exits or `until` matches. */
function runWorkerAs(user: { uid: number; gid: number }, args: string[], until: RegExp): Promise<{ code: number | null; output: string }> {
  const workDir = tmpDir('unprivileged');
  fs.chownSync(workDir, user.uid, user.gid);
  const child = spawn(process.execPath, [CLI, 'worker', '--work-dir', path.join(workDir, 'w'), '--enrollment-token', server.enrollmentToken, '--server', server.url, ...args], {
    uid: user.uid,
    gid: user.gid,
    env: { PATH: process.env.PATH, HOME: workDir, LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (until.test(output)) child.kill('SIGKILL');
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

testAsRootWithReadableCheckout('a worker that is not root says at start that tasks share its user, and refuses --run-as another user', withProcessLogs(async () => {
  const user = lookUpUser('nobody');
  if (!user) throw new Error('this host has no nobody user');
  const shared = await runWorkerAs(user, ['--name', uniqueName('unprivileged')], /tasks share its user/);
  expect(shared.output).toMatch(/the worker is not root: tasks share its user \(nobody\)/);
  const refused = await runWorkerAs(user, ['--name', uniqueName('unprivileged'), '--run-as', 'root'], /only a worker running as root/);
  expect(refused.output).toMatch(/--run-as root: only a worker running as root can run tasks as another user/);
}), 90_000);
