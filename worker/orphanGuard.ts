import { spawn, type ChildProcess } from 'node:child_process';

/*
 * A tiny detached shell per task that holds the read end of a pipe from the agent. If the agent dies (even by
 * kill -9) the pipe closes, `read` returns, and the guard kills the task's whole process group: no task
 * outlives its worker. It ignores the terminal's signals so a Ctrl-C that the agent handles (drain) does not
 * fire it. On normal completion the agent kills the guard itself.
 */
// `kill -s KILL -- -PGID` is the POSIX form; dash (Debian's /bin/sh) rejects `kill -KILL -- -PGID` ("Illegal
// number: -"), which silently left every orphan alive.
const GUARD_SCRIPT = `trap '' INT TERM HUP QUIT; read _ignored; kill -s KILL -- "-$1" 2>/dev/null; exit 0`;

export class OrphanGuard {
  private readonly guard: ChildProcess;

  constructor(processGroupId: number) {
    this.guard = spawn('/bin/sh', ['-c', GUARD_SCRIPT, 'worksched-orphan-guard', String(processGroupId)], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    this.guard.on('error', () => undefined);
    this.guard.stdin?.on('error', () => undefined);
    this.guard.unref();
    (this.guard.stdin as unknown as { unref?: () => void })?.unref?.();
  }

  /** The task ended normally: retire the guard without it touching anything. */
  release(): void {
    this.guard.kill('SIGKILL');
    this.guard.stdin?.destroy();
  }
}
