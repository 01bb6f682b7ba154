/**
 * Shared pieces of the end-to-end tests: a real server (in-process, or as a child process that can be
 * kill -9'd), real worker agents (test/helpers/workerProcess.ts), temporary directories, task specs that tag
 * their processes, and a wrapper that prints every child's output when a test fails.
 */
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { WorkschedClient } from '../../client';
import type { TaskSpecInput } from '../../protocol/taskSpec';
import type { WorkRequest } from '../../protocol/workRequest';
import { compileServerConfig, type ServerConfigInput } from '../../server/config';
import { startServer, type RunningServer } from '../../server/startServer';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { pollUntil } from '../helpers/waitFor';
import {
  childEnv,
  describeProcessesSince,
  killAllStartedProcesses,
  killProcessesWithEnvEntries,
  ManagedProcess,
  processesOfWorkRequest,
  waitForProcesses,
  waitUntilNoProcesses,
  startWorkerProcess,
  type WorkerProcess,
  type WorkerProcessOptions,
} from '../helpers/workerProcess';

export const KiB = 1024;
export const MiB = 1024 * KiB;

export { sleep } from '../../common/sleep';

/**
 * Every task these tests submit carries WORKSCHED_E2E_RUN=<this tag> in its environment, so cleanup can find
 * (and kill) whatever a failed test left running, even after its worker died.
 */
export const RUN_TAG = `${process.pid}-${randomBytes(4).toString('hex')}`;
export const RUN_TAG_ENTRY = `WORKSCHED_E2E_RUN=${RUN_TAG}`;

/** Live processes of this file's work request `id` (ids restart at 1 in each test database, hence the tag). */
export function taskProcesses(id: number): number[] {
  return processesOfWorkRequest(id, [RUN_TAG_ENTRY]);
}

/** Polls /proc every 50 ms until work request `id` has no live process; resolves with the ms it took. */
export function waitUntilTaskGone(id: number, timeoutMs: number): Promise<number> {
  return waitUntilNoProcesses(id, timeoutMs, { scope: [RUN_TAG_ENTRY], intervalMs: 50 });
}

/** Polls until work request `id` has at least `min` live processes. */
export function waitForTaskProcesses(id: number, timeoutMs: number, min = 1): Promise<number[]> {
  return waitForProcesses(id, timeoutMs, min, { scope: [RUN_TAG_ENTRY] });
}

let names = 0;
/** A name unique in this run (worker names, task names). */
export function uniqueName(prefix: string): string {
  names += 1;
  return `${prefix}-${process.pid}-${names}`;
}

const tmpDirs: string[] = [];
/** A fresh directory under the system temp dir, open to every user (as /tmp is), removed by `cleanup()`. */
export function tmpDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `worksched-e2e-${prefix}-`));
  // A root worker runs tasks as unprivileged users: they read and write the tests' fixtures here (mkdtemp gives 700).
  fs.chmodSync(dir, 0o777);
  tmpDirs.push(dir);
  return dir;
}

export interface TaskOptions extends Omit<TaskSpecInput, 'task_name' | 'execution'> {
  task_name?: string;
  parameters?: Record<string, string | number | boolean>;
  parameter_mapping?: Record<string, string>;
  env?: Record<string, string>;
}

/** A task spec running `executable args…`, tagged with RUN_TAG. */
export function task(executable: string, args: string[] = [], options: TaskOptions = {}): TaskSpecInput {
  const { task_name, parameters, parameter_mapping, env, ...rest } = options;
  return {
    task_name: task_name ?? uniqueName('e2e'),
    execution: {
      executable,
      args,
      ...(parameters ? { parameters } : {}),
      ...(parameter_mapping ? { parameter_mapping } : {}),
      env: { ...(env ?? {}), WORKSCHED_E2E_RUN: RUN_TAG },
    },
    ...rest,
  };
}

/** `sh -c SCRIPT` as a task. */
export function shellTask(script: string, options: TaskOptions = {}): TaskSpecInput {
  return task('/bin/sh', ['-c', script], options);
}

export interface E2EServer {
  url: string;
  adminToken: string;
  enrollmentToken: string;
  client: WorkschedClient;
  running: RunningServer;
  db: TestDatabase;
  close(): Promise<void>;
}

/**
 * startServer in this process on a fresh database. Heartbeats every 0.5 s (a cancel reaches the worker fast);
 * `heartbeatTimeoutS` decides when a silent worker is declared lost.
 */
export async function startE2EServer(
  options: {
    heartbeatTimeoutS?: number;
    heartbeatIntervalS?: number;
    port?: number;
    enrollmentToken?: string;
    maxOutputData?: number;
    preemptAfterS?: number;
    /** Other server settings. */
    settings?: Partial<ServerConfigInput>;
  } = {},
): Promise<E2EServer> {
  const db = await createTestDatabase();
  const dataDir = tmpDir('server');
  let running: RunningServer;
  try {
    running = await startServer(
      compileServerConfig(
        {
          databaseUrl: db.url,
          port: options.port ?? 0,
          host: '127.0.0.1',
          dataDir,
          logLevel: 'silent',
          heartbeatTimeoutS: options.heartbeatTimeoutS ?? 10,
          heartbeatIntervalS: options.heartbeatIntervalS ?? 0.5,
          housekeepingIntervalS: 1,
          ...(options.preemptAfterS !== undefined ? { preemptAfterS: options.preemptAfterS } : {}),
          ...(options.enrollmentToken ? { enrollmentToken: options.enrollmentToken } : {}),
          ...(options.maxOutputData ? { maxOutputData: options.maxOutputData } : {}),
          ...options.settings,
        },
        {},
      ),
    );
  } catch (error) {
    await db.drop().catch(() => undefined);
    throw error;
  }
  let closed: Promise<void> | undefined;
  return {
    url: running.url,
    adminToken: running.adminToken,
    enrollmentToken: running.enrollmentToken,
    client: new WorkschedClient({ baseUrl: running.url, token: running.adminToken }),
    running,
    db,
    close() {
      closed ??= (async () => {
        try {
          await running.close();
        } finally {
          await db.drop();
        }
      })();
      return closed;
    },
  };
}

/** A worker agent of `server` with its own work dir under the temp dir; waits until it runs. */
export async function startWorker(
  server: { url: string; enrollmentToken: string },
  options: Partial<WorkerProcessOptions> = {},
): Promise<WorkerProcess> {
  const worker = startWorkerProcess({
    server: server.url,
    name: options.name ?? uniqueName('worker'),
    workDir: options.workDir ?? tmpDir('worker'),
    enrollmentToken: server.enrollmentToken,
    ...options,
    env: { PATH: pathForTaskUsers(), ...(options.env ?? {}) },
  });
  return worker.ready();
}

/**
 * The test run's PATH without the directories unprivileged users cannot pass through (root's pyenv under
 * /root): the tasks a root worker runs as its task users find their python3 and other tools on the rest.
 */
function pathForTaskUsers(): string {
  const openToAll = (dir: string) => {
    try {
      for (let current = path.resolve(dir); ; current = path.dirname(current)) {
        if ((fs.statSync(current).mode & 0o001) === 0) return false;
        if (path.dirname(current) === current) return true;
      }
    } catch {
      return false;
    }
  };
  return (process.env.PATH ?? '').split(':').filter((dir) => dir && openToAll(dir)).join(':');
}

/** The usual pair of a test file: a server and one worker of it (stop both with `cleanup(server)`). */
export async function startServerAndWorker(options: Partial<WorkerProcessOptions> = {}): Promise<{ server: E2EServer; worker: WorkerProcess }> {
  const server = await startE2EServer();
  try {
    return { server, worker: await startWorker(server, options) };
  } catch (error) {
    await cleanup(server);
    throw error;
  }
}

/** A free TCP port on 127.0.0.1 (closed again before it is returned). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const port = (probe.address() as net.AddressInfo).port;
      probe.close(() => resolve(port));
    });
  });
}

export interface ServerProcessOptions {
  port: number;
  dataDir: string;
  databaseUrl: string;
  adminToken: string;
  enrollmentToken: string;
  heartbeatTimeoutS?: number;
  /** More settings (WORKSCHED_…) in its environment. */
  env?: Record<string, string>;
}

/** `node bin/worksched.js server …` as a child process; resolves once it prints its banner. */
export async function startServerProcess(options: ServerProcessOptions): Promise<ManagedProcess> {
  const server = new ManagedProcess(
    `server :${options.port}`,
    ['server', '--port', String(options.port), '--data-dir', options.dataDir, '--database-url', options.databaseUrl],
    childEnv({
      WORKSCHED_ADMIN_TOKEN: options.adminToken,
      WORKSCHED_ENROLLMENT_TOKEN: options.enrollmentToken,
      WORKSCHED_HEARTBEAT_TIMEOUT_S: options.heartbeatTimeoutS === undefined ? undefined : String(options.heartbeatTimeoutS),
      LOG_LEVEL: 'info',
      ...options.env,
    }),
  );
  await server.waitForLine(/worksched server ready at http/, 60_000);
  return server;
}

/** Polls the request until `done(request)` holds; fails with its last state after `timeoutMs`. */
export async function waitForRequest(
  client: WorkschedClient,
  id: number,
  done: (request: WorkRequest) => boolean,
  what: string,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<WorkRequest> {
  return pollUntil(() => client.getWorkRequest(id), {
    until: done,
    description: `work request ${id} to be ${what}`,
    describe: (last) => `status ${last.status}, result ${last.result}, attempt ${last.attempt}, reason ${last.state_reason}`,
    timeoutMs,
    intervalMs,
  });
}

/** Waits until the request is completed or aborted. */
export function waitForEnd(client: WorkschedClient, id: number, timeoutMs = 30_000): Promise<WorkRequest> {
  return waitForRequest(client, id, (request) => request.status === 'completed' || request.status === 'aborted', 'completed or aborted', timeoutMs);
}

/** The request's stored log, by stream: texts joined (entries are raw output chunks, not lines). */
export async function logText(client: WorkschedClient, id: number): Promise<{ stdout: string; stderr: string; system: string; seqs: number[] }> {
  const { entries } = await client.getLogs(id, { limit: 100_000 });
  const text = { stdout: '', stderr: '', system: '', seqs: entries.map((entry) => entry.seq) };
  for (const entry of entries) text[entry.stream] += entry.text;
  return text;
}

/**
 * Wraps a test body: when it fails, the error message gets the output of every worker and server process
 * started during the test (their JSON logs), so a failure on CI can be diagnosed from the report alone.
 */
export function withProcessLogs(body: () => Promise<void>): () => Promise<void> {
  return async () => {
    const since = Date.now();
    try {
      await body();
    } catch (error) {
      const logs = describeProcessesSince(since);
      if (!logs) throw error;
      // A new Error: jest prints a matcher error from its own fields, so appending to its message is not enough.
      const original = error instanceof Error ? error : new Error(String(error));
      const wrapped = new Error(`${original.message}\n\n===== output of the processes this test started =====\n${logs}\n===== end of process output =====`);
      wrapped.stack = `${wrapped.message}\n${(original.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line)).join('\n')}`;
      throw wrapped;
    }
  };
}

/** Cleanup for afterAll/afterEach: processes (worker groups, tagged tasks), servers, tmp dirs. */
export async function cleanup(...servers: Array<{ close(): Promise<void> } | undefined>): Promise<void> {
  await killAllStartedProcesses();
  killProcessesWithEnvEntries([RUN_TAG_ENTRY]);
  const errors: unknown[] = [];
  for (const server of servers) {
    try {
      await server?.close();
    } catch (error) {
      errors.push(error);
    }
  }
  for (const dir of tmpDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  if (errors.length > 0) throw errors[0];
}

/**
 * Removes the (empty) cgroups of work request `id`'s runs, as named in its system log ("task cgroup NAME under
 * BASE, BASE"): a worker killed with kill -9 cannot remove them itself (it would tidy them 10 minutes later).
 * Only empty ones go: rmdir fails on a cgroup that still has processes.
 */
export async function removeTaskCgroups(client: WorkschedClient, id: number): Promise<string[]> {
  const removed: string[] = [];
  const { system } = await logText(client, id);
  for (const match of system.matchAll(/^task cgroup (wr-[\w.-]+) under (.+)$/gm)) {
    for (const base of match[2].split(', ')) {
      const dir = path.join(path.isAbsolute(base) ? base : path.join('/sys/fs/cgroup', base), match[1]);
      try {
        fs.rmdirSync(dir);
        removed.push(dir);
      } catch {
        // gone already, or busy
      }
    }
  }
  return removed;
}

/** The python3 binary itself (not a pyenv shim), so the worker and `time -v` measure the same process. */
export function python3(): string {
  const found = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
  if (found.status !== 0 || !found.stdout.trim()) throw new Error(`python3 is needed by these tests: ${found.stderr}`);
  // A root worker runs tasks as unprivileged users: a python3 of root's own (pyenv under /root) is closed to them.
  const usable = [found.stdout.trim(), '/usr/bin/python3', '/usr/local/bin/python3'].find(runnableByAnyone);
  return usable ?? found.stdout.trim();
}

/** Every directory on the way is o+x and the file itself o+x (after symlinks). */
function runnableByAnyone(file: string): boolean {
  try {
    const real = fs.realpathSync(file);
    for (let dir = path.dirname(real); ; dir = path.dirname(dir)) {
      if ((fs.statSync(dir).mode & 0o001) === 0) return false;
      if (path.dirname(dir) === dir) break;
    }
    return (fs.statSync(real).mode & 0o001) !== 0;
  } catch {
    return false;
  }
}

/** GNU `time -v`'s "Maximum resident set size" (KiB) of the same command, in bytes. Async: the in-process server keeps serving. */
export function timeMaxRssBytes(file: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/time', ['-v', file, ...args], { encoding: 'utf8' }, (error, _stdout, stderr) => {
      const match = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
      if (error || !match) reject(new Error(`/usr/bin/time -v ${file} failed (${error?.message ?? 'no max RSS line'}): ${stderr}`));
      else resolve(Number(match[1]) * KiB);
    });
  });
}
