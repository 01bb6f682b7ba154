/**
 * The postmaster of a data dir: its postmaster.pid, whether a pid really is the postgres serving that data dir,
 * and stopping it with `pg_ctl stop` (also one left running by a process that was killed).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readlinkSync, realpathSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { binariesFor, runProgram, type PostgresBinaries } from './binaries';
import { FAST_SHUTDOWN_TIMEOUT_S, IMMEDIATE_SHUTDOWN_TIMEOUT_S } from './constants';
import { isErrorCode } from './helpers';
import { isProcessAlive, signal, waitForExit } from './processes';
import { ownerOfDataDir } from './systemUser';

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
 * True only for a live `postgres` process serving `dataDir` (postgres chdirs into its data directory). pg_ctl
 * itself trusts any live pid in postmaster.pid, also a recycled one. Synchronous for the 'exit' safety net.
 */
export function isPostmasterOf(pid: number, dataDir: string): boolean {
  if (!isProcessAlive(pid)) return false;
  let realDataDir = dataDir;
  try {
    realDataDir = realpathSync(dataDir);
  } catch {
    // deleted: compare the path as given
  }
  try {
    if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'postgres') return false;
    return readlinkSync(`/proc/${pid}/cwd`) === realDataDir;
  } catch {
    // No /proc (macOS): ask ps.
    try {
      const argv = execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' }).trim();
      return /(^|\/)postgres\s/.test(argv) && (argv.includes(dataDir) || argv.includes(realDataDir));
    } catch {
      return false;
    }
  }
}

/** `pg_ctl stop -m fast`, then `-m immediate`, then SIGKILL; the postmaster reaps its children in the first two. */
export async function stopPostmaster(binaries: PostgresBinaries, dataDir: string, pid: number): Promise<void> {
  const attempts = [
    ['fast', FAST_SHUTDOWN_TIMEOUT_S],
    ['immediate', IMMEDIATE_SHUTDOWN_TIMEOUT_S],
  ] as const;
  for (const [mode, timeoutS] of attempts) {
    if (!isPostmasterOf(pid, dataDir)) return; // checked first: pg_ctl would signal a recycled pid too
    // -W: we wait for the postmaster to exit ourselves, polling more often than pg_ctl's 100 ms.
    const result = await runProgram(binaries, 'pg_ctl', ['stop', '-D', dataDir, '-m', mode, '-W']);
    if (result.code === 0 && (await waitForExit(pid, timeoutS * 1000))) return;
  }
  signal(pid, 'SIGKILL');
  if (!(await waitForExit(pid, IMMEDIATE_SHUTDOWN_TIMEOUT_S * 1000))) throw new Error(`PostgreSQL (pid ${pid}) did not stop`);
}

/**
 * Stops the postgres serving `dataDir` if one is running (for instance after its starter was killed) and
 * returns its pid. Never signals a process that is not a postgres working in `dataDir`.
 */
export async function stopOrphanedPostgres(dataDir: string): Promise<number | undefined> {
  const absoluteDataDir = path.resolve(dataDir);
  const pidFile = await readPostmasterPid(absoluteDataDir);
  if (!pidFile || !isPostmasterOf(pidFile.pid, absoluteDataDir)) return undefined;
  // As root, pg_ctl runs as whoever owns the data dir: the user the server runs as.
  const binaries = await binariesFor(await ownerOfDataDir(absoluteDataDir), () => undefined);
  await stopPostmaster(binaries, absoluteDataDir, pidFile.pid);
  return pidFile.pid;
}
