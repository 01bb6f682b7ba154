import { spawn, type ChildProcess } from 'node:child_process';

/*
 * One tiny detached shell per agent that holds the read end of a pipe from the agent and the list of the running
 * tasks' process groups (the agent writes `add PGID` when a task starts and `del PGID` when it has ended). If
 * the agent dies (even by kill -9) the pipe closes, `read` fails, and the guard kills every group still listed:
 * no task outlives its worker. One shell for all tasks rather than one per task: a spawn from the agent costs
 * a fork of the whole Node process, as much as the task's own. It ignores the terminal's signals so a Ctrl-C
 * that the agent handles (drain) does not fire it.
 */
// `kill -s KILL -- -PGID` is the POSIX form; dash (Debian's /bin/sh) rejects `kill -KILL -- -PGID` ("Illegal
// number: -"), which silently left every orphan alive. A line cut short by the agent's death still counts.
const GUARD_SCRIPT = `trap '' INT TERM HUP QUIT
groups=' '
while :; do
  op=; group=
  IFS=' ' read -r op group || { [ "$op" = add ] && groups="$groups$group "; break; }
  case "$op" in
    add) groups="$groups$group " ;;
    del) case "$groups" in *" $group "*) groups="\${groups%% $group *} \${groups#* $group }" ;; esac ;;
  esac
done
for group in $groups; do kill -s KILL -- "-$group" 2>/dev/null; done
exit 0`;

/** Ended groups are told to the guard with the next new one, or after this long at most. */
const FORGET_DELAY_MS = 1_000;

export class OrphanGuard {
  private guard: ChildProcess | null = null;
  /** Groups listed with the current guard (given again to a new one if it dies). */
  private readonly groups = new Set<number>();
  private closed = false;
  /** Lines not written yet: one write per turn of the event loop, not one per task (each wakes the shell). */
  private queued: string[] = [];
  private flushSoon: NodeJS.Immediate | null = null;
  private flushLater: NodeJS.Timeout | null = null;

  /** A task's process group started: killed if the agent dies before `forget` (written within this turn). */
  watch(processGroupId: number): void {
    if (this.closed) return;
    this.groups.add(processGroupId);
    this.queued.push(`add ${processGroupId}\n`);
    this.flushSoon ??= setImmediate(() => this.flush());
  }

  /**
   * The task ended normally: the guard must not touch that group id again (a pid is reused only after the
   * kernel went round the whole pid space, far longer than the delay before this reaches the guard).
   */
  forget(processGroupId: number): void {
    if (!this.groups.delete(processGroupId)) return;
    this.queued.push(`del ${processGroupId}\n`);
    if (!this.flushSoon && !this.flushLater) {
      this.flushLater = setTimeout(() => this.flush(), FORGET_DELAY_MS);
      this.flushLater.unref();
    }
  }

  /** The agent stops: retire the guard without it touching anything. */
  close(): void {
    this.closed = true;
    this.groups.clear();
    this.queued = [];
    if (this.flushSoon) clearImmediate(this.flushSoon);
    if (this.flushLater) clearTimeout(this.flushLater);
    this.guard?.kill('SIGKILL');
    this.guard?.stdin?.destroy();
    this.guard = null;
  }

  private flush(): void {
    if (this.flushSoon) clearImmediate(this.flushSoon);
    if (this.flushLater) clearTimeout(this.flushLater);
    this.flushSoon = null;
    this.flushLater = null;
    if (this.closed || this.queued.length === 0) return;
    const text = this.queued.join('');
    this.queued = [];
    const guard = this.guard ?? this.start();
    guard.stdin?.write(text);
  }

  private start(): ChildProcess {
    const guard = spawn('/bin/sh', ['-c', GUARD_SCRIPT, 'worksched-orphan-guard'], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    guard.on('error', () => undefined);
    guard.stdin?.on('error', () => undefined);
    // Killed by someone else: a new guard takes over the groups still running.
    guard.once('exit', () => {
      if (this.guard !== guard) return;
      this.guard = null;
      if (this.closed || this.groups.size === 0) return;
      const next = this.start();
      for (const group of this.groups) next.stdin?.write(`add ${group}\n`);
    });
    guard.unref();
    (guard.stdin as unknown as { unref?: () => void })?.unref?.();
    this.guard = guard;
    return guard;
  }
}
