import type { ClaimedWorkRequest } from '../../protocol';
import type { TaskFiles } from './taskFiles';

/** What a task gets when the worker has no PATH (systemd's default). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The worker's variables a task sees without being asked: a short allowlist, like systemd and GitLab Runner. */
const ALLOWED = new Set(['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR', 'USER']);
const ALLOWED_PREFIX = 'LC_';

/** The worker's own credentials (WORKSCHED_ENROLLMENT_TOKEN, WORKSCHED_WORKER_TOKEN...): never passed on, even when named. */
export const WORKER_SECRET = /^WORKSCHED_[A-Z0-9_]*(TOKEN|SECRET|PASSWORD)$/i;

/**
 * A task's environment, later entries winning: the allowlisted variables of the worker, the ones
 * `--pass-env` names, the spec's `env`, then the WORKSCHED_* variables the worker sets for the task: its id, and
 * the task file, the result file (written by the task, if at all) and the inputs file (`{}` outside workflows).
 */
export function buildTaskEnv(
  workRequest: ClaimedWorkRequest,
  files: Pick<TaskFiles, 'task' | 'result' | 'inputs'>,
  options: { workerEnv?: NodeJS.ProcessEnv; passEnv?: readonly string[]; user?: { name: string; home: string } } = {},
): NodeJS.ProcessEnv {
  const workerEnv = options.workerEnv ?? process.env;
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(workerEnv)) {
    if (value !== undefined && (ALLOWED.has(name) || name.startsWith(ALLOWED_PREFIX))) env[name] = value;
  }
  env.PATH = withoutNpmScriptEntries(workerEnv.PATH, workerEnv) || DEFAULT_PATH;
  for (const name of options.passEnv ?? []) {
    const value = workerEnv[name];
    if (value !== undefined && !WORKER_SECRET.test(name)) env[name] = value;
  }
  if (options.user) {
    // The worker's HOME (root's) is not the task's: its own working directory is.
    env.HOME = options.user.home;
    env.USER = options.user.name;
    env.LOGNAME = options.user.name;
  }
  return {
    ...env,
    ...workRequest.execution.env,
    WORKSCHED_WORK_REQUEST_ID: String(workRequest.id),
    WORKSCHED_TASK_FILE: files.task,
    WORKSCHED_RESULT_FILE: files.result,
    WORKSCHED_INPUTS_FILE: files.inputs,
  };
}

/**
 * `npm start` / `npm run` put `node_modules/.bin` of every parent directory and npm's node-gyp-bin in front of
 * PATH: the worker's tooling, not the task's. Removed when the worker runs under an npm script.
 */
function withoutNpmScriptEntries(pathValue: string | undefined, workerEnv: NodeJS.ProcessEnv): string | undefined {
  if (pathValue === undefined || workerEnv.npm_lifecycle_event === undefined) return pathValue;
  return pathValue
    .split(':')
    .filter((entry) => !/[/\\]node_modules[/\\]\.bin\/?$/.test(entry) && !/[/\\]node-gyp-bin\/?$/.test(entry))
    .join(':');
}
