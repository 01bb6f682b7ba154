import { chmodSync, constants, copyFileSync, statSync, writeFileSync } from 'fs';
import { join, resolve } from 'path';
import { ERROR_CODES } from '../../protocol/outputData';
import { commandArguments, executionKind, pythonKeywordArguments } from '../../protocol/taskSpec';
import type { ClaimedWorkRequest } from '../../protocol/workerApi';
import { packageFilePath } from './packageFile';
import { resolveExecutable } from './resolveExecutable';
import type { StartError } from './spawnChild';
import type { TaskFiles } from './taskFiles';

/** What to exec for a task: a resolved program and its arguments. */
export interface TaskCommand {
  file: string;
  args: string[];
}

/** The inline script's name in the working directory. */
export const SCRIPT_NAME = '.worksched-script';

const RUNNER = join('worker', 'execution', 'python', 'runner.py');

/** The python runner shipped in the package. */
export function pythonRunnerPath(): string {
  return packageFilePath(RUNNER);
}

/**
 * The command of each kind of execution, or the StartError that keeps it from running:
 * - `executable`: the executable (found in the task's PATH, or relative to its working directory), then args and
 *   parameters as flags;
 * - `script`: the script, written into the working directory with mode 700, run by its #! line (else by
 *   /bin/sh), with the same arguments;
 * - `python`: python3 (from the task's PATH) running the package's runner on a call file that holds the file,
 *   the function, its keyword arguments (kwargs and parameters) and args (the function's sys.argv[1:]); the runner
 *   is copied beside the call file, where the task's user can read it.
 * The environment is the same for all three.
 */
export function prepareTaskCommand(request: ClaimedWorkRequest, options: { workdir: string; envPath: string | undefined; files: TaskFiles }): TaskCommand | StartError {
  const execution = request.execution;
  const { workdir, envPath } = options;
  switch (executionKind(execution)) {
    case 'executable': {
      const resolved = resolveExecutable(execution.executable ?? '', workdir, envPath);
      return resolved.ok ? { file: resolved.path, args: commandArguments(execution) } : { code: resolved.code, message: resolved.message };
    }
    case 'script': {
      const script = execution.script ?? '';
      const path = join(workdir, SCRIPT_NAME);
      writeFileSync(path, script, { flag: 'wx', mode: 0o700 });
      chmodSync(path, 0o700); // whatever the umask
      if (!script.startsWith('#!')) return { file: '/bin/sh', args: [path, ...commandArguments(execution)] };
      const interpreter = /^#!\s*(\S+)/.exec(script)?.[1];
      if (interpreter?.startsWith('/')) {
        const found = resolveExecutable(interpreter, workdir, envPath);
        if (!found.ok) return { code: found.code, message: `the script's interpreter (its #! line): ${found.message}` };
      }
      return { file: path, args: commandArguments(execution) };
    }
    case 'python': {
      const call = execution.python!;
      const python = resolveExecutable('python3', workdir, envPath);
      if (!python.ok) return { code: python.code, message: `a python task needs python3: ${python.message}` };
      const file = resolve(workdir, call.file);
      if (!isRegularFile(file)) return { code: ERROR_CODES.executableNotFound, message: `python file not found: ${file}` };
      const body = { file, function: call.function, kwargs: pythonKeywordArguments(execution), args: execution.args, status_file: options.files.pythonStatus };
      writeFileSync(options.files.pythonCall, JSON.stringify(body), { flag: 'wx', mode: 0o600 });
      // A copy beside the call file: a task user need not be able to traverse the package's directory.
      copyFileSync(pythonRunnerPath(), options.files.pythonRunner, constants.COPYFILE_EXCL);
      chmodSync(options.files.pythonRunner, 0o600);
      return { file: python.path, args: ['-u', options.files.pythonRunner, options.files.pythonCall] };
    }
  }
}

function isRegularFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
