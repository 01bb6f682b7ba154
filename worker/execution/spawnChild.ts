import { ERROR_CODES } from '../../protocol/outputData';
import type { TaskCommand } from './taskCommand';
import { taskSpawner, type TaskProcess } from './taskSpawner';
import type { TaskUser } from './types';

/** $0 of the wrapper shell: its own error messages start with it, which tells them from the task's. */
export const WRAPPER_NAME = 'worksched-exec';

/**
 * Joins each cgroup.procs file given (count first), then execs the task, so everything the task does
 * (its first allocation, every child) is charged to its cgroup.
 */
const JOIN_SCRIPT = [
  'n=$1; shift',
  'while [ "$n" -gt 0 ]; do',
  `  echo $$ > "$1" || { echo "${WRAPPER_NAME}: cannot join cgroup $1" >&2; exit 125; }`,
  '  shift; n=$((n - 1))',
  'done',
  'exec "$@"',
].join('\n');

/**
 * For a task run as another user, who may not write the root-owned cgroup.procs files (cgroup v2 wants write
 * access to the common ancestor): the spawner moves the waiting shell into the cgroups as root, then says `go` on
 * fd 3, or names the file it could not join; only then does the shell exec the task.
 */
const GATE_SCRIPT = [
  'IFS= read -r line <&3; exec 3<&-',
  `[ "$line" = go ] || { echo "${WRAPPER_NAME}: cannot join cgroup $line" >&2; exit 125; }`,
  'exec "$@"',
].join('\n');

export interface StartError {
  code: string;
  message: string;
  /** More keys of the output_data error (e.g. `paths` of required_file_missing). */
  details?: Record<string, string[]>;
}

export interface Spawned {
  child: TaskProcess;
  /** The executable actually run (resolved via PATH / the working directory). */
  path: string;
}

/**
 * Start the task's command through the task spawner, in its own process group, stdin /dev/null, through the
 * cgroup-joining shell when procsFiles is non-empty. Listen to the child, then await its `started`.
 */
export function spawnTask(
  command: TaskCommand,
  options: { cwd: string; env: NodeJS.ProcessEnv; procsFiles: string[]; runAs?: TaskUser },
): Spawned {
  const viaShell = options.procsFiles.length > 0;
  const gated = viaShell && options.runAs !== undefined;
  const file = viaShell ? '/bin/sh' : command.file;
  let args = command.args;
  if (gated) args = ['-c', GATE_SCRIPT, WRAPPER_NAME, command.file, ...command.args];
  else if (viaShell) args = ['-c', JOIN_SCRIPT, WRAPPER_NAME, String(options.procsFiles.length), ...options.procsFiles, command.file, ...command.args];
  const child = taskSpawner.spawn({
    file,
    args,
    cwd: options.cwd,
    env: options.env,
    ...(options.runAs ? { user: { uid: options.runAs.uid, gid: options.runAs.gid } } : {}),
    ...(gated ? { gateFiles: options.procsFiles } : {}),
  });
  return { child, path: command.file };
}

/** Map a spawn 'error' event (no wrapper shell) to an error code. */
export function spawnErrorToStartError(error: NodeJS.ErrnoException, path: string): StartError {
  if (error.code === 'ENOENT') return { code: ERROR_CODES.executableNotFound, message: `executable not found: ${path}` };
  if (error.code === 'EACCES' || error.code === 'EPERM') {
    return { code: ERROR_CODES.permissionDenied, message: `permission denied: cannot execute ${path}` };
  }
  return { code: ERROR_CODES.spawnFailed, message: `cannot start ${path}: ${error.message}` };
}

/**
 * The wrapper shell's own failures: exit 125 after failing to join the cgroup, 126/127 when exec failed (a
 * race with the pre-check, or an exec error it can't see). Recognised by the shell's message, which starts
 * with WRAPPER_NAME and names the path, so a task that itself exits 126/127 stays a plain 'failure'.
 */
export function wrapperFailure(exitCode: number | null, stderrHead: string, path: string): StartError | undefined {
  const lines = stderrHead.split('\n').filter((line) => line.startsWith(`${WRAPPER_NAME}: `));
  if (exitCode === 125) {
    const line = lines.find((text) => text.startsWith(`${WRAPPER_NAME}: cannot join cgroup`));
    return line ? { code: ERROR_CODES.spawnFailed, message: `cannot start ${path}: ${line.slice(WRAPPER_NAME.length + 2)}` } : undefined;
  }
  if (exitCode !== 126 && exitCode !== 127) return undefined;
  const line = lines.find((text) => text.includes(`${path}: `));
  if (!line) return undefined;
  const reason = line.slice(line.lastIndexOf(`${path}: `) + path.length + 2);
  return exitCode === 127
    ? { code: ERROR_CODES.executableNotFound, message: `executable not found: ${path} (${reason})` }
    : { code: ERROR_CODES.permissionDenied, message: `permission denied: cannot execute ${path} (${reason})` };
}
