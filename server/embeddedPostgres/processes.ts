/** Processes: liveness (zombies count as gone), identity (pid plus start time), signals, waiting for exit. */
import { readFileSync } from 'node:fs';
import { delay, isErrorCode } from './helpers';

/** A pid plus its start time, so that a recycled pid is not mistaken for the process. */
export interface ProcessIdentity {
  pid: number;
  startTime: string | null;
}

/** Fields of /proc/<pid>/stat from the state (field 3) on; undefined without /proc (macOS) or process. */
function processStatFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * Alive and not a zombie: where pid 1 does not reap orphans, a stopped orphaned postgres stays a zombie and
 * kill(pid, 0) keeps succeeding.
 */
export function isProcessAlive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    return isErrorCode(error, 'EPERM');
  }
  return processStatFields(pid)?.[0] !== 'Z'; // no /proc (macOS): trust kill(pid, 0)
}

export function identify(pid: number): ProcessIdentity {
  return { pid, startTime: processStatFields(pid)?.[19] ?? null }; // field 22: start time in clock ticks
}

export function isStillRunning(identity: ProcessIdentity): boolean {
  if (!isProcessAlive(identity.pid)) return false;
  const startTime = identify(identity.pid).startTime;
  return identity.startTime === null || startTime === null || startTime === identity.startTime;
}

export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isProcessAlive(pid)) {
    if (Date.now() > deadline) return false;
    await delay(25);
  }
  return true;
}

export function signal(pid: number, signalName: NodeJS.Signals): void {
  try {
    process.kill(pid, signalName);
  } catch (error) {
    if (!isErrorCode(error, 'ESRCH')) throw error;
  }
}
