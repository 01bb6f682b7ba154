import { spawnSync } from 'child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { claimedWorkRequestSchema, type ClaimedWorkRequest, type ExecutionInput } from '../../protocol';
import { startTask, type RunningTask, type RunTaskOptions, type TaskOutcome } from '../../worker/execution';

export const MiB = 1024 * 1024;
export const NODE = process.execPath;

let nextId = 100_000 + Math.floor(Math.random() * 800_000_000);

/** A claimed work request with schema defaults filled in and a fresh id (used to find its processes). */
export function makeRequest(
  execution: ExecutionInput,
  extra: Partial<Omit<ClaimedWorkRequest, 'execution'>> = {},
): ClaimedWorkRequest {
  nextId += 1;
  return claimedWorkRequestSchema.parse({
    id: nextId,
    task_name: 'test-task',
    subject: null,
    context: null,
    attempt: 1,
    time_limit_s: null,
    interrupt_allowed: true,
    requirements: {},
    log_seq_start: 0, // stripped by the schema if the protocol drops it
    ...extra,
    execution: { args: [], parameters: {}, parameter_mapping: {}, env: {}, ...execution },
  });
}

export const snapshot = { available_disk_space: 10_000 * MiB, available_memory: 1000 * MiB, cpu_count: 2 };

export interface Run {
  task: RunningTask;
  outcome: TaskOutcome;
  stdout: string;
  stderr: string;
  system: string;
}

const roots: string[] = [];

export function workRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'worksched-exec-test-'));
  roots.push(root);
  return root;
}

export function removeWorkRoots(): void {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
}

/** Start a task and collect its output; `during` may act on the running task (kill it, inspect its dir). */
export async function run(
  request: ClaimedWorkRequest,
  options: Partial<Omit<RunTaskOptions, 'workRequest' | 'onOutput'>> = {},
  during?: (task: RunningTask) => Promise<void> | void,
): Promise<Run> {
  const out = { stdout: '', stderr: '', system: '' };
  const task = startTask({
    workRequest: request,
    workRoot: options.workRoot ?? workRoot(),
    workerSnapshot: snapshot,
    killGraceMs: 2000,
    ...options,
    onOutput: (stream, text) => {
      out[stream] += text;
    },
  });
  if (during) await during(task);
  const outcome = await task.done;
  return { task, outcome, ...out };
}

/** Processes (not zombies) whose environment carries this work request id: what a task left running. */
export function processesOf(requestId: number): number[] {
  const needle = `WORKSCHED_WORK_REQUEST_ID=${requestId}\0`;
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      if (readFileSync(`/proc/${name}/environ`, 'latin1').includes(needle)) pids.push(Number(name));
    } catch {
      // Exited while we looked.
    }
  }
  return pids;
}

/** The real python3 binary (not a pyenv shim script), so time -v and the task measure the same process. */
export function python3(): string {
  const found = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
  if (found.status !== 0 || !found.stdout.trim()) throw new Error('python3 is needed by these tests');
  return found.stdout.trim();
}

/** GNU time's "Maximum resident set size" in bytes for the same command. */
export function timeMaxRss(file: string, args: string[]): number {
  const result = spawnSync('/usr/bin/time', ['-v', file, ...args], { encoding: 'utf8' });
  const match = /Maximum resident set size \(kbytes\): (\d+)/.exec(result.stderr);
  if (result.status !== 0 || !match) throw new Error(`/usr/bin/time -v failed: ${result.stderr}`);
  return Number(match[1]) * 1024;
}
