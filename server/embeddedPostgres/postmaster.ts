/**
 * The postmaster of a data dir: its postmaster.pid, whether a pid really is the postgres serving that data dir,
 * and stopping it (also one left running by a parent that was killed).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readlinkSync, realpathSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { FAST_SHUTDOWN_TIMEOUT_MS, IMMEDIATE_SHUTDOWN_TIMEOUT_MS } from './constants';
import { isErrorCode } from './helpers';
import { isProcessAlive, signal, waitForExit } from './processes';

interface PostmasterPidFile {
  pid: number;
  port: number | undefined;
  /** "starting", "ready", "stopping" (line 8; absent in the first milliseconds). */
  status: string | undefined;
}

export async function readPostmasterPid(dataDir: string): Promise<PostmasterPidFile | undefined> {
  let text: string;
  try {
    text = await fs.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8');
  } catch (error) {
    if (isErrorCode(error, 'ENOENT')) return undefined;
    throw error;
  }
  // Line 1: pid (negative for a single-user backend); line 4: port; line 8: status.
  const lines = text.split('\n');
  const pid = Math.abs(Number.parseInt(lines[0] ?? '', 10));
  const port = Number.parseInt(lines[3] ?? '', 10);
  const status = lines[7]?.trim() || undefined;
  return { pid: Number.isInteger(pid) ? pid : 0, port: Number.isInteger(port) ? port : undefined, status };
}

/**
 * True only for a live `postgres` process serving `dataDir` (postgres chdirs into its data directory).
 * Synchronous so that the 'exit' safety net can use it too.
 */
export function isPostmasterOf(pid: number, dataDir: string): boolean {
  if (!isProcessAlive(pid)) return false;
  let realDataDir = dataDir;
  try {
    realDataDir = realpathSync(dataDir);
  } catch {
    // deleted: compare the path as given
  }
  let command: string;
  try {
    command = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    // No /proc (macOS): ask ps.
    try {
      const argv = execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' }).trim();
      return /(^|\/)postgres\s/.test(argv) && (argv.includes(dataDir) || argv.includes(realDataDir));
    } catch {
      return false;
    }
  }
  if (command !== 'postgres') return false;
  try {
    return readlinkSync(`/proc/${pid}/cwd`) === realDataDir;
  } catch {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const dataDirArgument = argv[argv.indexOf('-D') + 1];
      return dataDirArgument !== undefined && path.resolve(dataDirArgument) === realDataDir;
    } catch {
      return false;
    }
  }
}

/** Fast shutdown, then immediate shutdown, then SIGKILL; the postmaster reaps its children in the first two. */
export async function stopPostmaster(pid: number): Promise<void> {
  signal(pid, 'SIGINT');
  if (await waitForExit(pid, FAST_SHUTDOWN_TIMEOUT_MS)) return;
  signal(pid, 'SIGQUIT');
  if (await waitForExit(pid, IMMEDIATE_SHUTDOWN_TIMEOUT_MS)) return;
  signal(pid, 'SIGKILL');
  if (!(await waitForExit(pid, IMMEDIATE_SHUTDOWN_TIMEOUT_MS))) {
    throw new Error(`PostgreSQL (pid ${pid}) did not stop`);
  }
}

/**
 * Stops the postgres serving `dataDir` if one is running (for instance after its parent was killed) and
 * returns its pid. Never signals a process that is not a postgres working in `dataDir`.
 */
export async function stopOrphanedPostgres(dataDir: string): Promise<number | undefined> {
  const absoluteDataDir = path.resolve(dataDir);
  const pidFile = await readPostmasterPid(absoluteDataDir);
  if (!pidFile || !isPostmasterOf(pidFile.pid, absoluteDataDir)) return undefined;
  await stopPostmaster(pidFile.pid);
  return pidFile.pid;
}
