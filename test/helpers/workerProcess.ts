/**
 * Real worker agents for end-to-end tests: `node bin/worksched.js worker …` as a child process in its own
 * process group (so cleanup can kill all of it), with its JSON logs captured for failure reports; and /proc
 * scans that find a task's processes by the WORKSCHED_WORK_REQUEST_ID the worker puts in their environment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pollUntil } from './waitFor';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const CLI = path.join(REPO_ROOT, 'bin', 'worksched.js');

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Environment variables of the test run that must not leak into a child's configuration. */
const SCRUBBED_ENV = /^(WORKSCHED_|DATABASE_URL$|LOG_LEVEL$)/;

/** process.env without worksched's own settings, plus `extra` (undefined values removed). */
export function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !SCRUBBED_ENV.test(key)) env[key] = value;
  }
  for (const [key, value] of Object.entries(extra)) {
    if (value !== undefined) env[key] = value;
  }
  return env;
}

/** Every process these helpers started, so a failing test can print their output and cleanup can kill them. */
const started: ManagedProcess[] = [];

/** A child process in its own process group whose output is kept line by line. */
export class ManagedProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly lines: string[] = [];
  /** When each line arrived (ms epoch), parallel to `lines`. */
  readonly lineTimes: number[] = [];
  readonly exited: Promise<ExitInfo>;
  exitInfo: ExitInfo | null = null;
  exitedAt: number | null = null;
  readonly startedAt = Date.now();
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly label: string,
    args: string[],
    env: NodeJS.ProcessEnv,
  ) {
    this.child = spawn(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    if (this.child.pid === undefined) throw new Error(`cannot start ${label}`);
    this.pid = this.child.pid;
    this.exited = new Promise<ExitInfo>((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        this.exitedAt = Date.now();
        this.addLine(`[${label} exited: code ${code}, signal ${signal}]`);
        this.notify();
        resolve(this.exitInfo);
      });
    });
    this.capture(this.child.stdout!, 'stdout');
    this.capture(this.child.stderr!, 'stderr');
    started.push(this);
  }

  get alive(): boolean {
    return this.exitInfo === null;
  }

  /** All output so far, one line each. */
  output(): string {
    return this.lines.join('\n');
  }

  /** Resolves with the first line matching `pattern` (already seen or coming); rejects on exit or timeout. */
  waitForLine(pattern: RegExp | ((line: string) => boolean), timeoutMs = 30_000): Promise<string> {
    const matches = typeof pattern === 'function' ? pattern : (line: string) => pattern.test(line);
    return new Promise<string>((resolve, reject) => {
      let checked = 0;
      const check = () => {
        for (; checked < this.lines.length; checked += 1) {
          if (matches(this.lines[checked])) return finish(() => resolve(this.lines[checked]));
        }
        if (!this.alive) finish(() => reject(new Error(`${this.label} exited (${JSON.stringify(this.exitInfo)}) before printing ${String(pattern)}`)));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`${this.label} did not print ${String(pattern)} within ${timeoutMs} ms`))), timeoutMs);
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        settle();
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Signals the main process only (not its group). */
  signal(signal: NodeJS.Signals): void {
    if (!this.alive) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      // already gone
    }
  }

  /** SIGKILL to the whole process group (cleanup). */
  killGroup(): void {
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      // group already empty
    }
  }

  /** Resolves with the exit status, or null if it is still running after `timeoutMs`. */
  async waitForExit(timeoutMs: number): Promise<ExitInfo | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private capture(stream: NodeJS.ReadableStream, name: string): void {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (text: string) => {
      partial += text;
      let newline: number;
      while ((newline = partial.indexOf('\n')) >= 0) {
        this.addLine(name === 'stdout' ? `[stdout] ${partial.slice(0, newline)}` : partial.slice(0, newline));
        partial = partial.slice(newline + 1);
      }
      this.notify();
    });
    stream.on('end', () => {
      if (partial) this.addLine(partial);
      partial = '';
      this.notify();
    });
  }

  private addLine(line: string): void {
    this.lines.push(line);
    this.lineTimes.push(Date.now());
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

export interface WorkerProcessOptions {
  server: string;
  name: string;
  workDir: string;
  concurrency?: number;
  /** Sent as WORKSCHED_ENROLLMENT_TOKEN; omit to rely on the identity saved in the work dir. */
  enrollmentToken?: string;
  drainTimeoutS?: number;
  killGraceS?: number;
  extraArgs?: string[];
  env?: Record<string, string>;
}

export class WorkerProcess extends ManagedProcess {
  constructor(readonly options: WorkerProcessOptions) {
    const args = ['worker', '--server', options.server, '--name', options.name, '--work-dir', options.workDir, '--concurrency', String(options.concurrency ?? 1)];
    if (options.drainTimeoutS !== undefined) args.push('--drain-timeout', String(options.drainTimeoutS));
    if (options.killGraceS !== undefined) args.push('--kill-grace', String(options.killGraceS));
    args.push(...(options.extraArgs ?? []));
    super(`worker ${options.name}`, args, childEnv({ LOG_LEVEL: 'debug', WORKSCHED_ENROLLMENT_TOKEN: options.enrollmentToken, ...(options.env ?? {}) }));
  }

  /** Waits for the agent's "worker started" log line (registered or identity loaded, loops running). */
  async ready(timeoutMs = 30_000): Promise<this> {
    await this.waitForLine((line) => parseJson(line)?.msg === 'worker started', timeoutMs);
    return this;
  }

  /** The agent's JSON log records so far. */
  records(): Array<Record<string, unknown>> {
    return this.lines.map(parseJson).filter((record): record is Record<string, unknown> => record !== undefined);
  }

  /**
   * Sends `signal` to the worker process and waits for it to exit; after `timeoutMs` the whole group is
   * killed and null is returned.
   */
  stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<ExitInfo | null> {
    return stopWorkerProcess(this, signal, timeoutMs);
  }
}

/** Starts a worker agent; call `.ready()` to wait until it runs its loops. */
export function startWorkerProcess(options: WorkerProcessOptions): WorkerProcess {
  fs.mkdirSync(options.workDir, { recursive: true });
  return new WorkerProcess(options);
}

/** Signals the worker and waits for it to exit; kills its group and returns null when it does not in time. */
export async function stopWorkerProcess(worker: ManagedProcess, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<ExitInfo | null> {
  if (!worker.alive) return worker.exitInfo;
  worker.signal(signal);
  const exit = await worker.waitForExit(timeoutMs);
  if (exit === null) {
    worker.killGroup();
    await worker.waitForExit(5_000);
  }
  return exit;
}

/** Processes started by these helpers that were running at some time since `since` (ms epoch). */
export function processesRunningSince(since: number): ManagedProcess[] {
  return started.filter((proc) => proc.exitedAt === null || proc.exitedAt >= since);
}

/** For each process running since `since`: its output since then (the last `maxLines` lines of it). */
export function describeProcessesSince(since: number, maxLines = 400): string {
  return processesRunningSince(since)
    .map((proc) => {
      const first = proc.lineTimes.findIndex((time) => time >= since);
      const recent = first < 0 ? [] : proc.lines.slice(first);
      const tail = recent.slice(-maxLines);
      const skipped = proc.lines.length - tail.length;
      return `----- ${proc.label} (pid ${proc.pid}${proc.alive ? ', still running' : ''}) -----\n${skipped > 0 ? `[${skipped} earlier lines]\n` : ''}${tail.join('\n')}`;
    })
    .join('\n');
}

/** SIGKILLs the process group of every process these helpers started that still runs. */
export async function killAllStartedProcesses(): Promise<void> {
  const alive = started.filter((proc) => proc.alive);
  for (const proc of alive) proc.killGroup();
  await Promise.all(alive.map((proc) => proc.waitForExit(5_000)));
}

function parseJson(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** Live (non-zombie) processes whose environment contains every one of the exact entries `NAME=value`. */
export function processesWithEnvEntries(entries: string[]): number[] {
  const needles = entries.map((entry) => ({ inner: Buffer.from(`\0${entry}\0`), first: Buffer.from(`${entry}\0`) }));
  const pids: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'latin1');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state === 'Z' || state === 'X') continue;
      const environ = fs.readFileSync(`/proc/${name}/environ`);
      if (needles.every(({ inner, first }) => environ.subarray(0, first.length).equals(first) || environ.includes(inner))) pids.push(Number(name));
    } catch {
      // exited while we looked, or a kernel thread
    }
  }
  return pids;
}

/**
 * Live processes of work request `id`: the worker sets WORKSCHED_WORK_REQUEST_ID=<id> for the task and all it
 * starts inherit it. Ids restart at 1 in every test database, so tests running in parallel pass `scope`:
 * further entries (e.g. a tag in the task's env) that the processes must also have.
 */
export function processesOfWorkRequest(id: number, scope: string[] = []): number[] {
  return processesWithEnvEntries([`WORKSCHED_WORK_REQUEST_ID=${id}`, ...scope]);
}

/** Describes pids (command lines) for assertion messages. */
export function describePids(pids: number[]): string {
  return pids
    .map((pid) => {
      try {
        return `${pid}: ${fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ').trim()}`;
      } catch {
        return `${pid}: (gone)`;
      }
    })
    .join('; ');
}

/** SIGKILLs every live process whose environment has all of `entries` (cleanup after tests that orphan tasks). */
export function killProcessesWithEnvEntries(entries: string[]): number[] {
  const pids = processesWithEnvEntries(entries);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  return pids;
}

export interface ProcessPollOptions {
  /** See processesOfWorkRequest. */
  scope?: string[];
  intervalMs?: number;
}

/**
 * Polls /proc (every 50 ms by default) until no process of work request `id` is left; resolves with the ms it
 * took, rejects (listing the survivors) after `timeoutMs`.
 */
export async function waitUntilNoProcesses(id: number, timeoutMs: number, options: ProcessPollOptions = {}): Promise<number> {
  const started = performance.now();
  await pollUntil(() => processesOfWorkRequest(id, options.scope), {
    until: (pids) => pids.length === 0,
    description: `the processes of work request ${id} to end`,
    describe: (pids) => `still alive: ${describePids(pids)}`,
    timeoutMs,
    intervalMs: options.intervalMs ?? 50,
  });
  return performance.now() - started;
}

/** Polls until work request `id` has at least `min` live processes; resolves with their pids. */
export function waitForProcesses(id: number, timeoutMs: number, min = 1, options: ProcessPollOptions = {}): Promise<number[]> {
  return pollUntil(() => processesOfWorkRequest(id, options.scope), {
    until: (pids) => pids.length >= min,
    description: `work request ${id} to have ${min} live process(es)`,
    describe: (pids) => `found ${pids.length}`,
    timeoutMs,
    intervalMs: options.intervalMs ?? 50,
  });
}
