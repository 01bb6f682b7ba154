import { fork, type ChildProcess } from 'child_process';
import { EventEmitter } from 'events';
import { join } from 'path';
import { packageFilePath } from './packageFile';

/** What to start: the spawner runs it detached (its own process group), stdin /dev/null, stdout and stderr piped. */
export interface SpawnRequest {
  file: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Run as this user (the worker being root). */
  user?: { uid: number; gid: number };
  /** The command is the gated shell: the spawner moves it into these cgroup.procs files, then opens fd 3. */
  gateFiles?: string[];
}

/**
 * A task started by the spawner, with the events of a ChildProcess: `output` (stream, utf8 text), `error` (the
 * exec failed: no pid), `exit` (code, signal), `close` (pipes drained), and `lost` when the spawner died while the
 * task ran (no exit status will come).
 */
export interface TaskProcess extends EventEmitter {
  /** Known once `started` settled: undefined if the exec failed (an `error` event follows). */
  readonly pid: number | undefined;
  /**
   * Settles when the spawner answered: undefined when spawn() went ahead (see pid), else why it refused. Events
   * may come right after: listen before awaiting it.
   */
  readonly started: Promise<string | undefined>;
  /** Stop reading the task's pipes (a process left behind holds them open). */
  release(): void;
  on(event: 'output', listener: (stream: 'stdout' | 'stderr', text: string) => void): this;
  on(event: 'error', listener: (error: NodeJS.ErrnoException) => void): this;
  on(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  on(event: 'close' | 'lost', listener: () => void): this;
  once(event: 'error', listener: (error: NodeJS.ErrnoException) => void): this;
  once(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  once(event: 'close' | 'lost', listener: () => void): this;
}

type FromSpawner =
  | { op: 'spawned'; id: number; pid: number | undefined }
  | { op: 'thrown'; id: number; message: string }
  | { op: 'out'; id: number; stream: 'stdout' | 'stderr'; text: string }
  | { op: 'error'; id: number; code: string | undefined; message: string }
  | { op: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null }
  | { op: 'close'; id: number };

const SCRIPT = join('worker', 'execution', 'taskSpawnerProcess.js');
/**
 * A spawner with no task for this long exits: an idle agent keeps one process, and its memory (about 45 MB),
 * only. Starting one again takes about 0.1 s, paid by the first task after the pause.
 */
const IDLE_EXIT_MS = 5 * 60_000;

class SpawnedTask extends EventEmitter implements TaskProcess {
  pid: number | undefined;
  readonly started: Promise<string | undefined>;
  /** Settles `started`: undefined, or why spawn() threw at once (invalid arguments, too many open files) or that the spawner died first. */
  answer!: (refused: string | undefined) => void;

  constructor(readonly id: number, private readonly spawner: TaskSpawner) {
    super();
    this.started = new Promise((done) => (this.answer = done));
  }

  release(): void {
    this.spawner.release(this);
  }
}

/**
 * Starts tasks through the spawner process (taskSpawnerProcess.js), forked when the first task comes and again
 * after it exited or died. While a task runs the spawner holds the agent's event loop open; idle it does not.
 */
export class TaskSpawner {
  private helper: ChildProcess | null = null;
  private nextId = 1;
  private readonly starting = new Map<number, SpawnedTask>();
  private readonly running = new Map<number, SpawnedTask>();
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(private readonly idleExitMs = IDLE_EXIT_MS) {}

  /** The spawner's pid while it runs (tests, and the bench's memory figures). */
  get pid(): number | undefined {
    return this.helper?.pid;
  }

  spawn(request: SpawnRequest): TaskProcess {
    const helper = this.helper ?? this.startHelper();
    const id = this.nextId++;
    const task = new SpawnedTask(id, this);
    this.busy();
    this.starting.set(id, task);
    const { user, ...rest } = request;
    helper.send({ op: 'spawn', id, ...rest, ...(user ? { uid: user.uid, gid: user.gid } : {}) });
    return task;
  }

  /** Retire the spawner now (the agent stops): a task it still ran is killed by it. */
  close(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    const helper = this.helper;
    if (!helper) return;
    this.helper = null;
    if (helper.connected) helper.disconnect();
    this.abandonAll();
  }

  release(task: SpawnedTask): void {
    if (!this.running.delete(task.id)) return;
    if (this.helper?.connected) this.helper.send({ op: 'release', id: task.id });
    this.idleSoon();
  }

  private startHelper(): ChildProcess {
    // Own process group: a Ctrl-C the agent handles (drain) must not stop the tasks' supervision. No inherited
    // node flags (a --cpu-prof of the agent's), and a small young generation: it holds little.
    const helper = fork(packageFilePath(SCRIPT), [], {
      detached: true,
      execArgv: ['--max-semi-space-size=2'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'json',
    });
    helper.on('message', (message: FromSpawner) => this.onMessage(message));
    helper.on('error', () => undefined); // a send after it died: its exit below settles everything
    helper.once('exit', () => {
      // Retired by close(), which settled its tasks: the tasks now known may be a newer spawner's.
      if (this.helper !== helper) return;
      this.helper = null;
      this.abandonAll();
    });
    this.helper = helper;
    return helper;
  }

  private onMessage(message: FromSpawner): void {
    if (message.op === 'spawned' || message.op === 'thrown') {
      const task = this.starting.get(message.id);
      if (!task) return;
      this.starting.delete(message.id);
      if (message.op === 'thrown') {
        task.answer(message.message);
        this.idleSoon();
        return;
      }
      task.pid = message.pid;
      this.running.set(message.id, task);
      task.answer(undefined);
      return;
    }
    const task = this.running.get(message.id);
    if (!task) return;
    if (message.op === 'out') task.emit('output', message.stream, message.text);
    else if (message.op === 'error') task.emit('error', Object.assign(new Error(message.message), { code: message.code }));
    else if (message.op === 'exit') task.emit('exit', message.code, message.signal);
    else {
      this.running.delete(message.id);
      task.emit('close');
      this.idleSoon();
    }
  }

  /** The spawner is gone: starts still waiting are refused, running tasks are told they lost their supervisor. */
  private abandonAll(): void {
    for (const task of this.starting.values()) task.answer('the task spawner process exited before the task started');
    this.starting.clear();
    const lost = [...this.running.values()];
    this.running.clear();
    for (const task of lost) task.emit('lost');
  }

  private busy(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.helper?.ref();
    this.helper?.channel?.ref();
  }

  /** No task left: the spawner no longer keeps the agent alive, and exits after a while. */
  private idleSoon(): void {
    if (this.starting.size > 0 || this.running.size > 0 || !this.helper) return;
    this.helper.unref();
    this.helper.channel?.unref();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.close(), this.idleExitMs);
    this.idleTimer.unref();
  }
}

/** The one spawner of this process (the agent's, or a test's). */
export const taskSpawner = new TaskSpawner();
