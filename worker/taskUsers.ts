import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../common/logger';
import type { TaskUser } from './execution';
import { WorkerConfigError } from './config';

/** Default task users: one per concurrent task, so that a task cannot read, signal or trace another one. */
export const TASK_USER_PREFIX = 'worksched-task-';
const FALLBACK_USER = 'nobody';

/**
 * Who tasks run as. A root worker runs each task under an unprivileged uid: by default a dedicated system user
 * per concurrent slot (`worksched-task-1`, `-2`…, created with useradd if missing, as GitLab Runner's shell
 * executor uses a `gitlab-runner` user), or the one `--run-as USER` names, or `nobody` where useradd is missing.
 * A worker that is not root runs tasks as itself (it cannot do otherwise).
 */
export class TaskUsers {
  private readonly free: TaskUser[] = [];
  private created = 0;
  private readonly busy = new Set<TaskUser>();

  private constructor(
    /** 'slots': a user per slot; 'shared': every task as `shared`; 'self': as the worker. */
    private readonly mode: 'slots' | 'shared' | 'self',
    private readonly shared: TaskUser | null,
    private readonly logger: Logger,
  ) {}

  /** Decides once, at start-up (creating the slot users), and says in the log what tasks can reach. */
  static resolve(runAs: string | undefined, concurrency: number, logger: Logger): TaskUsers {
    const uid = process.getuid?.() ?? -1;
    const self = os.userInfo().username;
    if (uid !== 0) {
      if (runAs !== undefined && runAs !== self && runAs !== String(uid)) {
        throw new WorkerConfigError(`--run-as ${runAs}: only a worker running as root can run tasks as another user (this one runs as ${self})`);
      }
      logger.warn({ user: self, uid }, `the worker is not root: tasks share its user (${self}) and can read its state and each other's files; run it as root to run tasks as unprivileged users`);
      return new TaskUsers('self', null, logger);
    }
    if (runAs === 'root' || runAs === '0') {
      logger.warn('--run-as root: tasks run as root and can read the worker\'s token, outbox and spool, and each other\'s directories');
      return new TaskUsers('self', null, logger);
    }
    if (runAs !== undefined) {
      const user = lookUpUser(runAs);
      if (!user) throw new WorkerConfigError(`--run-as ${runAs}: no such user on this host (create it, e.g. \`useradd --system ${runAs}\`)`);
      if (user.uid === 0) throw new WorkerConfigError(`--run-as ${runAs}: that user has uid 0; pass --run-as root to run tasks as root on purpose`);
      logger.info({ user: user.name, uid: user.uid }, `tasks run as ${user.name} (uid ${user.uid}); they share it, so they can read each other's directories while they run`);
      return new TaskUsers('shared', user, logger);
    }
    if (!hasUseradd()) {
      const nobody = lookUpUser(FALLBACK_USER);
      if (!nobody) throw new WorkerConfigError(`no useradd to create task users and no ${FALLBACK_USER} user: pass --run-as USER`);
      logger.warn({ user: nobody.name, uid: nobody.uid }, `no useradd here: tasks run as ${nobody.name} and share it (pass --run-as USER to choose)`);
      return new TaskUsers('shared', nobody, logger);
    }
    const users = new TaskUsers('slots', null, logger);
    // All at start: a host where useradd fails stops the worker with the reason, not one task later on.
    for (let slot = 0; slot < concurrency; slot += 1) users.free.push(users.createSlotUser());
    logger.info({ users: users.free.map((user) => user.name) }, `tasks run as unprivileged users, one per concurrent task (${TASK_USER_PREFIX}1…${concurrency})`);
    return users;
  }

  /** True when tasks run as another uid than the worker's. */
  get separate(): boolean {
    return this.mode !== 'self';
  }

  /** The user the next task runs as (undefined: as the worker); give it back with release(). */
  acquire(): TaskUser | undefined {
    if (this.mode === 'self') return undefined;
    if (this.mode === 'shared') return this.shared ?? undefined;
    const user = this.free.shift() ?? this.createSlotUser();
    this.busy.add(user);
    return user;
  }

  release(user: TaskUser | undefined): void {
    if (this.mode !== 'slots' || !user || !this.busy.delete(user)) return;
    this.free.push(user);
    this.free.sort((a, b) => a.uid - b.uid);
  }

  private createSlotUser(): TaskUser {
    this.created += 1;
    const name = `${TASK_USER_PREFIX}${this.created}`;
    const existing = lookUpUser(name);
    if (existing) return existing;
    // Several workers on one host may create the same user at once: "already exists" (9) is success, a locked
    // passwd file (10) is worth another try.
    for (let attempt = 0; ; attempt += 1) {
      try {
        execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', '--comment', 'worksched task', name], {
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        break;
      } catch (error) {
        const status = (error as { status?: number }).status;
        if (status === 9) break;
        if (status !== 10 || attempt >= 20) {
          throw new Error(`cannot create the task user ${name} with useradd: ${String((error as { stderr?: Buffer }).stderr ?? (error as Error).message).trim()}`, { cause: error });
        }
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100); // a rare, short wait at a slot's first use
      }
    }
    const user = lookUpUser(name);
    if (!user) throw new Error(`useradd created ${name} but it cannot be looked up`);
    this.logger.info({ user: name, uid: user.uid }, `created task user ${name}`);
    return user;
  }
}

/** uid and gid of a user name (or numeric uid), via `id`, which asks NSS as getent would. */
export function lookUpUser(nameOrUid: string): TaskUser | null {
  try {
    const uid = Number(execFileSync('id', ['-u', nameOrUid], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    const gid = Number(execFileSync('id', ['-g', nameOrUid], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    const name = execFileSync('id', ['-un', nameOrUid], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return Number.isInteger(uid) && Number.isInteger(gid) ? { name, uid, gid } : null;
  } catch {
    return null;
  }
}

function hasUseradd(): boolean {
  return (process.env.PATH ?? '/usr/sbin:/sbin').split(':').concat(['/usr/sbin', '/sbin']).some((dir) => {
    try {
      fs.accessSync(path.join(dir, 'useradd'), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * The first directory on the way to `dir` that `user` cannot pass through (no x for it), or null. A task whose
 * user cannot reach its working directory could not open its task file nor run an executable given by path.
 */
export function firstUnreachableDirectory(dir: string, user: TaskUser): string | null {
  let current = path.resolve(dir);
  const chain: string[] = [];
  for (;;) {
    chain.unshift(current);
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  for (const entry of chain) {
    const stat = fs.statSync(entry);
    const bit = stat.uid === user.uid ? 0o100 : stat.gid === user.gid ? 0o010 : 0o001;
    if ((stat.mode & bit) === 0) return entry;
  }
  return null;
}
