import { existsSync, lchownSync, promises as fs } from 'fs';
import { join, resolve } from 'path';
import { randomBytes } from 'crypto';
import { performance } from 'perf_hooks';
import { sleep } from '../../common/sleep';
import { ERROR_CODES } from '../../protocol/outputData';
import { executionKind, requiredFilesOf } from '../../protocol/taskSpec';
import { formatBytes, formatDuration } from '../../protocol/units';
import { describeSetup, detectMeasurementMethod, getCgroupSetup } from './cgroupDetect';
import { DiskSampler } from './diskUsage';
import { buildOutcome, buildStatistics, type Ending } from './outcome';
import { ProcSampler } from './procSampler';
import { readPythonStatus } from './pythonStatus';
import { findMissingRequiredFiles, requiredFileError } from './requiredFiles';
import { spawnErrorToStartError, spawnTask, wrapperFailure, type StartError } from './spawnChild';
import { TaskCgroup } from './taskCgroup';
import type { TaskProcess } from './taskSpawner';
import { prepareTaskCommand, SCRIPT_NAME } from './taskCommand';
import { buildTaskEnv } from './taskEnvironment';
import { readResultFile, TaskFiles, type TaskResultValue } from './taskFiles';
import type { KillReason, MeasurementMethod, OutputStream, RunningTask, RunTaskOptions, TaskOutcome, TaskUser } from './types';

const DEFAULT_KILL_GRACE_MS = 10_000;
/** A cancelled task must be gone within 2 s, whatever the configured grace: keep room for the SIGKILL and cleanup. */
const CANCEL_GRACE_MS = 1500;
/** How long to wait for the output pipes after the processes are gone (a stray holder can't block us). */
const PIPE_DRAIN_MS = 1000;
const STDERR_HEAD_CHARS = 4096;

/** Wait for `promise` at most `ms`, leaving no timer behind (a pending one would hold the process open). */
async function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise<void>((done) => (timer = setTimeout(done, ms)))]);
  clearTimeout(timer);
}

/** Run one claimed work request as an isolated, measured child process. */
export function startTask(options: RunTaskOptions): RunningTask {
  const run = new TaskRun(options);
  return {
    get pid() {
      return run.pid;
    },
    workdir: run.workdir,
    done: run.done,
    kill: (reason: KillReason) => run.kill(reason),
  };
}

class TaskRun {
  readonly workdir: string;
  readonly done: Promise<TaskOutcome>;
  private readonly name: string;
  private readonly files: TaskFiles;
  private readonly killGraceMs: number;
  private setupError: StartError | undefined;
  private child: TaskProcess | undefined;
  private cgroup: TaskCgroup | undefined;
  private sampler: ProcSampler | undefined;
  private killReason: KillReason | undefined;
  private timeLimitHit = false;
  private mainExited = false;
  private sentKill = false;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(private readonly options: RunTaskOptions) {
    const request = options.workRequest;
    this.killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    this.name = `wr-${request.id}-a${request.attempt}-${randomBytes(4).toString('hex')}`;
    const root = resolve(options.workRoot);
    this.workdir = join(root, this.name);
    this.files = new TaskFiles(root, this.name, { ownDirectory: options.runAs !== undefined });
    this.done = this.prepare(root).then(() => this.run()).catch((error: Error) => {
      this.system(`internal error: ${error.stack ?? error.message}`);
      if (!this.mainExited) this.signalAll('SIGKILL'); // never leave a task running unsupervised
      return this.finish({ kind: 'start-error', code: ERROR_CODES.spawnFailed, message: `worker error: ${error.message}` }, 'proc', 0, {});
    });
  }

  /** The working directory and the task's files, off the event loop (see TaskFiles.writeBeforeStart). */
  private async prepare(root: string): Promise<void> {
    const runAs = this.options.runAs;
    try {
      // Its own user's alone: another task (another uid) can neither list nor read it. The root exists but for
      // the first task or after someone removed it: made only then (one file call less for every other task).
      await fs.mkdir(this.workdir, { mode: 0o700 }).catch(async (error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
        await fs.mkdir(root, { recursive: true });
        await fs.mkdir(this.workdir, { mode: 0o700 });
      });
      if (runAs) await fs.chown(this.workdir, runAs.uid, runAs.gid);
      await this.files.writeBeforeStart(this.options.workRequest);
    } catch (error) {
      this.setupError = { code: ERROR_CODES.spawnFailed, message: `cannot prepare ${this.workdir}: ${(error as Error).message}` };
    }
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  kill(reason: KillReason): void {
    if (this.mainExited || this.killReason !== undefined || this.timeLimitHit) return;
    this.killReason = reason;
    // Not spawned yet: run() sees killReason and never spawns, or kills it as soon as its pid is known.
    if (this.child?.pid) this.startKill(reason);
  }

  private startKill(reason: KillReason): void {
    const grace = reason === 'cancelled' ? Math.min(this.killGraceMs, CANCEL_GRACE_MS) : this.killGraceMs;
    const why = reason === 'cancelled' ? 'cancelled' : reason === 'preempted' ? 'preempted for a higher-priority request' : 'worker shutdown';
    this.system(`killing the task (${why}): SIGTERM now, SIGKILL in ${grace} ms`);
    this.terminate(grace);
  }

  private system(text: string): void {
    this.emit('system', `${text}\n`);
  }

  private emit(stream: OutputStream, text: string): void {
    try {
      this.options.onOutput(stream, text);
    } catch {
      // A failing log sink must not break the task's supervision.
    }
  }

  private async run(): Promise<TaskOutcome> {
    const forced = this.options.measurementMethod;
    let method: MeasurementMethod = forced ?? (await detectMeasurementMethod());
    if (this.setupError) return this.finish({ kind: 'start-error', ...this.setupError }, method, 0, {});
    const missing = await findMissingRequiredFiles(requiredFilesOf(this.options.workRequest));
    if (missing.length > 0) return this.finish({ kind: 'start-error', ...requiredFileError(missing) }, method, 0, {});
    if (method !== 'proc') {
      // A forced v2 on a host whose cgroup2 lacks memory still gives cpu; memory then comes from /proc.
      const setup = getCgroupSetup(method, { requireMemory: forced === undefined });
      try {
        if (!setup) throw new Error(`no writable ${method} hierarchy`);
        this.cgroup = TaskCgroup.create(setup, this.name, this.options.memoryLimitBytes);
        this.system(`task cgroup ${this.name} under ${describeSetup(setup)}`);
      } catch (error) {
        this.system(`cannot create a ${method} cgroup (${(error as Error).message}): measuring by /proc sampling`);
        method = 'proc';
      }
    }
    if (this.killReason) return this.finish({ kind: 'killed', reason: this.killReason }, method, 0, {});

    const runAs = this.options.runAs;
    const env = buildTaskEnv(this.options.workRequest, this.files, {
      passEnv: this.options.passEnv,
      ...(runAs ? { user: { name: runAs.name, home: this.workdir } } : {}),
    });
    let command: ReturnType<typeof prepareTaskCommand>;
    try {
      command = prepareTaskCommand(this.options.workRequest, { workdir: this.workdir, envPath: env.PATH, files: this.files });
    } catch (error) {
      command = { code: ERROR_CODES.spawnFailed, message: `cannot prepare the task's command: ${(error as Error).message}` };
    }
    if ('code' in command) return this.finish({ kind: 'start-error', ...command }, method, 0, {});
    if (runAs) this.giveFilesTo(runAs);
    const { child, path } = spawnTask(command, { cwd: this.workdir, env, procsFiles: this.cgroup?.procsFiles ?? [], runAs });
    this.child = child;
    const startedAt = performance.now();
    let lost = false;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: NodeJS.ErrnoException }>((done) => {
      child.once('error', (error) => done({ code: null, signal: null, error }));
      child.once('exit', (code, signal) => done({ code, signal }));
      // The spawner died: no exit status will come, and nobody reads the task's output any more.
      child.once('lost', () => {
        lost = true;
        if (child.pid !== undefined) this.signalAll('SIGKILL');
        done({ code: null, signal: null });
      });
    });
    const closed = new Promise<void>((done) => {
      child.once('close', () => done());
      child.once('lost', () => done());
    });
    let stderrHead = '';
    child.on('output', (stream, text) => {
      if (stream === 'stderr' && stderrHead.length < STDERR_HEAD_CHARS) stderrHead += text.slice(0, STDERR_HEAD_CHARS - stderrHead.length);
      this.emit(stream, text);
    });
    const refused = await child.started;
    if (refused !== undefined) {
      return this.finish({ kind: 'start-error', code: ERROR_CODES.spawnFailed, message: `cannot start ${path}: ${refused}` }, method, 0, {});
    }
    if (child.pid !== undefined && this.killReason) this.startKill(this.killReason); // killed while it was being started

    const disk = new DiskSampler(this.workdir);
    if (child.pid !== undefined) {
      const as = runAs ? `; as ${runAs.name}, uid ${runAs.uid}` : '';
      this.system(`started pid ${child.pid}: ${path} (measurement: ${method}${as}) in ${this.workdir}`);
      if (method === 'proc' || !this.cgroup?.hasMemory) {
        this.sampler = new ProcSampler(child.pid);
        this.sampler.start();
      }
      if (this.cgroup?.needsMemorySampling) this.timers.push(setInterval(() => this.cgroup?.sampleMemory(), 100));
      disk.start();
      const limit = this.options.workRequest.time_limit_s;
      if (limit !== null && limit > 0) this.startTimeLimit(limit, startedAt);
    }

    const exit = await exited;
    const durationMs = performance.now() - startedAt;
    this.mainExited = true;
    for (const timer of this.timers) clearTimeout(timer);
    const pid = child.pid;
    if (exit.error || pid === undefined) {
      const error = exit.error ?? Object.assign(new Error('no pid'), { code: 'UNKNOWN' });
      child.release();
      await disk.finish();
      return this.finish({ kind: 'start-error', ...spawnErrorToStartError(error, path) }, method, 0, {});
    }
    if (lost) this.system(`the worker's task spawner process died: process ${pid} was killed, its exit status is unknown`);
    else this.system(exit.signal ? `process ${pid} killed by signal ${exit.signal}` : `process ${pid} exited with code ${exit.code}`);

    this.sampler?.sample(); // last figures, leftovers included, before they are killed
    await this.killLeftovers(pid);
    this.sampler?.stop();
    await withTimeout(closed, PIPE_DRAIN_MS);
    child.release();

    const cg = this.cgroup?.stats();
    const diskBytes = await disk.finish();
    const measured = {
      cpuMs: cg?.cpuMs ?? this.sampler?.cpuMs,
      memoryBytes: cg?.memoryPeak ?? this.sampler?.memoryPeak,
      diskBytes,
    };
    const oomKilled = cg !== undefined &&
      ((cg.oomKills ?? 0) > 0 || (cg.oomKills === undefined && (cg.failcnt ?? 0) > 0 && exit.signal === 'SIGKILL' && !this.sentKill));
    const wrapperError = this.cgroup ? wrapperFailure(exit.code, stderrHead, path) : undefined;
    let ending: Ending;
    if (lost) ending = { kind: 'start-error', code: ERROR_CODES.workerLost, message: "the worker's task spawner process died while the task ran" };
    else if (wrapperError) ending = { kind: 'start-error', ...wrapperError };
    else if (this.killReason) ending = { kind: 'killed', reason: this.killReason };
    else if (this.timeLimitHit) ending = { kind: 'time-limit', limitS: this.options.workRequest.time_limit_s ?? 0 };
    else ending = { kind: 'exited', exitCode: exit.code, signal: exit.signal, oomKilled };
    const report = this.readTaskReport(ending);
    return this.finish(report.ending, method, durationMs, measured, report.result);
  }

  /**
   * What the task reported besides its exit: a python function's exception (or why it could not be called), and
   * the result file. An invalid result turns a success into an `error`; a failure keeps its own cause.
   */
  private readTaskReport(ending: Ending): { ending: Ending; result?: TaskResultValue } {
    if (ending.kind !== 'exited' || ending.oomKilled) return { ending };
    const succeeded = ending.exitCode === 0 && ending.signal === null;
    if (!succeeded && executionKind(this.options.workRequest.execution) === 'python') {
      const status = readPythonStatus(this.files.pythonStatus);
      if (status?.kind === 'exception') return { ending: { kind: 'python-exception', type: status.type, qualifiedType: status.qualified_type, message: status.message } };
      if (status?.kind === 'error') return { ending: { kind: 'start-error', code: status.code, message: status.message } };
      if (status?.kind === 'invalid_result') return { ending: { kind: 'invalid-result', message: status.message } };
    }
    const file = readResultFile(this.files.result);
    if (file.kind === 'value') return { ending, result: file.value };
    if (file.kind === 'invalid') {
      if (succeeded) return { ending: { kind: 'invalid-result', message: file.message } };
      this.system(`result not sent: ${file.message}`);
    }
    return { ending };
  }

  /** The worker wrote the task's files and inline script as root: they become the task user's before it starts. */
  private giveFilesTo(user: TaskUser): void {
    this.files.giveTo(user);
    const script = join(this.workdir, SCRIPT_NAME);
    if (existsSync(script)) lchownSync(script, user.uid, user.gid);
  }

  /** setTimeout caps at 2^31-1 ms (~24.8 days; larger fires at once): re-arm until the limit is reached. */
  private startTimeLimit(limitS: number, startedAt: number): void {
    const remaining = limitS * 1000 - (performance.now() - startedAt);
    if (remaining <= 0) return this.onTimeLimit(limitS);
    this.timers.push(setTimeout(() => this.startTimeLimit(limitS, startedAt), Math.min(remaining, 2 ** 31 - 1)));
  }

  private onTimeLimit(limitS: number): void {
    if (this.mainExited || this.killReason !== undefined) return;
    this.timeLimitHit = true;
    this.system(`time limit of ${limitS} s reached: SIGTERM now, SIGKILL in ${this.killGraceMs} ms`);
    this.terminate(this.killGraceMs);
  }

  /** SIGTERM the process group and every cgroup / tracked member, then SIGKILL after the grace. */
  private terminate(graceMs: number): void {
    this.signalAll('SIGTERM');
    const timer = setTimeout(() => {
      if (this.mainExited) return;
      this.system(`grace of ${graceMs} ms over: SIGKILL`);
      this.signalAll('SIGKILL');
    }, graceMs);
    this.timers.push(timer);
  }

  private signalAll(signal: NodeJS.Signals): void {
    if (signal === 'SIGKILL') this.sentKill = true;
    const pid = this.child?.pid;
    if (pid !== undefined) {
      try {
        process.kill(-pid, signal);
      } catch {
        // Group already empty.
      }
    }
    this.cgroup?.signal(signal);
    this.sampler?.signal(signal);
  }

  /** After the main process exits nothing of the task may stay: group, cgroup and tracked orphans. */
  private async killLeftovers(pid: number): Promise<void> {
    let found = false;
    try {
      process.kill(-pid, 'SIGKILL');
      found = true;
    } catch {
      // No process group left.
    }
    if (this.cgroup && this.cgroup.pids().length > 0) {
      found = true;
      if (!(await this.cgroup.killAll())) this.system(`processes still in the task cgroup: ${this.cgroup.pids().join(' ')}`);
    }
    if (this.sampler) {
      for (let round = 0; round < 50; round += 1) {
        this.sampler.sample(); // also finds children forked since the last round
        if (this.sampler.livePids().length === 0) break;
        found = true;
        this.sampler.signal('SIGKILL');
        await sleep(20);
      }
    }
    if (found) this.system('killed processes the task left behind');
  }

  private async finish(
    ending: Ending,
    method: MeasurementMethod,
    durationMs: number,
    measured: { cpuMs?: number; memoryBytes?: number; diskBytes?: number },
    taskResult?: TaskResultValue,
  ): Promise<TaskOutcome> {
    if (this.cgroup) {
      const left = await this.cgroup.remove();
      if (left.length > 0) this.system(`could not remove cgroup ${left.join(', ')}`);
    }
    if (!this.options.keepWorkdir) {
      try {
        await fs.rm(this.workdir, { recursive: true, force: true, maxRetries: 3 });
      } catch (error) {
        this.system(`could not remove ${this.workdir}: ${(error as Error).message}`);
      }
      for (const failure of await this.files.remove()) this.system(`could not remove ${failure}`);
    }
    const stats = buildStatistics({ durationMs, ...measured, method, snapshot: this.options.workerSnapshot });
    const outcome = buildOutcome(ending, stats, taskResult);
    const firstError = outcome.output_data.errors?.[0];
    this.system(`result: ${outcome.result}${firstError ? ` (${firstError.code}: ${firstError.message})` : ''}; ` +
      `duration ${formatDuration(durationMs / 1000)}, cpu ${measured.cpuMs === undefined ? '-' : formatDuration(measured.cpuMs / 1000)}, ` +
      `memory ${formatBytes(measured.memoryBytes)}, disk ${formatBytes(measured.diskBytes)}`);
    return outcome;
  }
}
