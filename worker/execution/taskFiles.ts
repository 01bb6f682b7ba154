import { closeSync, constants, existsSync, fstatSync, lchownSync, openSync, promises as fs, readSync } from 'fs';
import { join } from 'path';
import { findUnstorableText, formatIssuePath } from '../../protocol/errors';
import { findJsonProblem, MAX_JSON_DEPTH } from '../../protocol/jsonValue';
import { ERROR_CODES, type OutputData } from '../../protocol/outputData';
import type { ClaimedWorkRequest } from '../../protocol/workerApi';
import type { TaskUser } from './types';

/** Largest result a task may write to $WORKSCHED_RESULT_FILE (DESIGN.md "Task results and data passing"). */
export const MAX_RESULT_BYTES = 1024 * 1024;

/**
 * The files the worker keeps beside a task's working directory (not in it: they neither count as the task's
 * disk use nor clutter its listing), named after it: `<name>.task.json` and so on. For a task run as another
 * user they are in a directory of its own beside the working directory (`<name>.files/`, the task user's, mode
 * 700), since it must create its result file and the work dir is not writable by it.
 */
export class TaskFiles {
  /** The claimed request as JSON ($WORKSCHED_TASK_FILE). */
  readonly task: string;
  /** Where the task may write its JSON result ($WORKSCHED_RESULT_FILE); created by the task, if at all. */
  readonly result: string;
  /** The results of its workflow dependencies ($WORKSCHED_INPUTS_FILE); `{}` outside workflows. */
  readonly inputs: string;
  /** A python task's call (file, function, kwargs, args) for the runner. */
  readonly pythonCall: string;
  /** What the python runner reports besides the result: the exception the function raised, or why it could not call it. */
  readonly pythonStatus: string;
  /** The package's python runner, copied here: a task user may be unable to reach the package's own directory. */
  readonly pythonRunner: string;

  /** The task user's directory of these files, or null when they are beside the working directory. */
  private readonly ownDirectory: string | null;

  constructor(root: string, name: string, options: { ownDirectory?: boolean } = {}) {
    this.ownDirectory = options.ownDirectory ? join(root, `${name}.files`) : null;
    const dir = this.ownDirectory ?? root;
    this.task = join(dir, `${name}.task.json`);
    this.result = join(dir, `${name}.result.json`);
    this.inputs = join(dir, `${name}.inputs.json`);
    this.pythonCall = join(dir, `${name}.python-call.json`);
    this.pythonStatus = join(dir, `${name}.python-status.json`);
    this.pythonRunner = join(dir, `${name}.python-runner.py`);
  }

  /**
   * Written before the task starts (exclusive create: nothing planted there beforehand is followed). Off the
   * event loop, like remove(): with dozens of tasks starting and ending, synchronous file calls stall the agent.
   */
  async writeBeforeStart(request: ClaimedWorkRequest): Promise<void> {
    if (this.ownDirectory) await fs.mkdir(this.ownDirectory, { mode: 0o700 });
    await Promise.all([
      fs.writeFile(this.task, JSON.stringify(request, null, 2), { flag: 'wx', mode: 0o600 }),
      fs.writeFile(this.inputs, JSON.stringify(request.inputs ?? {}), { flag: 'wx', mode: 0o600 }),
    ]);
  }

  /** Gives the files written so far (and their directory) to the task's user, just before it starts. */
  giveTo(user: TaskUser): void {
    const paths = [...(this.ownDirectory ? [this.ownDirectory] : []), ...this.all().filter((path) => existsSync(path))];
    for (const path of paths) lchownSync(path, user.uid, user.gid);
  }

  all(): string[] {
    return [this.task, this.result, this.inputs, this.pythonCall, this.pythonStatus, this.pythonRunner];
  }

  /**
   * Their own directory goes in one recursive call; files beside the working directory are unlinked one call
   * each (fs.rm would lstat every path first: twice the file calls, on the thread pool every task shares).
   */
  async remove(): Promise<string[]> {
    const failed: string[] = [];
    if (this.ownDirectory) {
      const dir = this.ownDirectory;
      await fs.rm(dir, { recursive: true, force: true }).catch((error: Error) => void failed.push(`${dir}: ${error.message}`));
      return failed;
    }
    await Promise.all(
      this.all().map((path) =>
        fs.unlink(path).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== 'ENOENT') failed.push(`${path}: ${error.message}`);
        }),
      ),
    );
    return failed;
  }
}

/** A JSON value, as output_data.result holds it. */
export type TaskResultValue = Exclude<OutputData['result'], undefined>;

export type ResultFile =
  | { kind: 'none' }
  | { kind: 'value'; value: TaskResultValue }
  | { kind: 'invalid'; code: typeof ERROR_CODES.invalidResult; message: string };

/**
 * Reads the JSON value a task wrote to its result file. The task wrote that file, so it is opened without
 * following a symbolic link, and only a regular file of at most MAX_RESULT_BYTES is read (a FIFO never blocks).
 */
export function readResultFile(path: string): ResultFile {
  const invalid = (message: string): ResultFile => ({ kind: 'invalid', code: ERROR_CODES.invalidResult, message });
  const text = readSmallRegularFile(path, MAX_RESULT_BYTES);
  if (text.kind === 'missing') return { kind: 'none' };
  if (text.kind === 'unreadable') return invalid(`cannot read the result file $WORKSCHED_RESULT_FILE: ${text.reason}`);
  if (text.kind === 'too-large') {
    return invalid(`the result file $WORKSCHED_RESULT_FILE holds more than ${MAX_RESULT_BYTES} bytes (1 MiB), the most a result may have`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text.text);
  } catch (error) {
    return invalid(`the result file $WORKSCHED_RESULT_FILE is not JSON: ${(error as Error).message}`);
  }
  // What the server would refuse (and the report with it): said here, as the task's invalid result.
  const problem = findJsonProblem(value, MAX_JSON_DEPTH);
  if (problem) return invalid(`the result in $WORKSCHED_RESULT_FILE cannot be stored: ${problem}`);
  const unstorable = findUnstorableText(value);
  if (unstorable) return invalid(`the result in $WORKSCHED_RESULT_FILE cannot be stored: ${formatIssuePath(unstorable.path)} ${unstorable.message}`);
  return { kind: 'value', value: value as TaskResultValue };
}

type SmallFile =
  | { kind: 'missing' }
  | { kind: 'unreadable'; reason: string }
  | { kind: 'too-large' }
  | { kind: 'text'; text: string };

/** A regular file's UTF-8 text, if it is at most `maxBytes`; symbolic links are not followed. */
export function readSmallRegularFile(path: string, maxBytes: number): SmallFile {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'missing' };
    return { kind: 'unreadable', reason: code === 'ELOOP' ? 'it is a symbolic link' : (error as Error).message };
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) return { kind: 'unreadable', reason: 'it is not a regular file' };
    if (stat.size > maxBytes) return { kind: 'too-large' };
    // One byte more than fstat saw: finding it means the file grew meanwhile.
    const buffer = Buffer.alloc(Math.min(stat.size, maxBytes) + 1);
    let length = 0;
    while (length < buffer.length) {
      const read = readSync(fd, buffer, length, buffer.length - length, null);
      if (read === 0) break;
      length += read;
    }
    if (length > maxBytes) return { kind: 'too-large' };
    if (length === buffer.length) return { kind: 'unreadable', reason: 'it grew while being read' };
    return { kind: 'text', text: buffer.subarray(0, length).toString('utf8') };
  } catch (error) {
    return { kind: 'unreadable', reason: (error as Error).message };
  } finally {
    closeSync(fd);
  }
}
