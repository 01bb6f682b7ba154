/** initdb and `pg_ctl -w start` for one data dir. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { runProgram, type PostgresBinaries } from './binaries';
import { DATABASE_SUPERUSER, LISTEN_HOST, START_TIMEOUT_S } from './constants';
import { isErrorCode } from './helpers';
import { withPasswordFile } from './passwordFile';
import { isPostmasterOf, readPostmasterPid, stopPostmaster } from './postmaster';

/** The server's log of its current run (pg_ctl -l), inside the data dir where the server's user may write. */
export const LOG_FILE = 'postgres.log';
const ERROR_LOG_LINES = 40;

function lastLines(text: string): string {
  return text.split('\n').filter((line) => line.trim() !== '').slice(-ERROR_LOG_LINES).join('\n');
}

export async function initialiseCluster(binaries: PostgresBinaries, dataDir: string, password: string): Promise<void> {
  // The password file sits next to the data dir, where the server's user can reach it.
  await withPasswordFile(path.dirname(dataDir), password, binaries.user, async (passwordFile) => {
    const result = await runProgram(binaries, 'initdb', [
      '-D',
      dataDir,
      '-U',
      DATABASE_SUPERUSER,
      `--pwfile=${passwordFile}`,
      '--auth=scram-sha-256',
      // Same collation everywhere, whatever locales the machine has.
      '--encoding=UTF8',
      '--locale=C',
      '--locale-provider=builtin',
      '--builtin-locale=C.UTF-8',
    ]);
    if (result.code !== 0) throw new Error(`initdb failed for ${dataDir} (exit code ${result.code}):\n${lastLines(result.output)}`);
  });
}

export type StartResult = { started: true; pid: number } | { started: false; log: string };

/**
 * `pg_ctl -w start` on `port`: TCP on loopback only and no Unix socket (nothing left in /tmp after a kill -9).
 * pg_ctl detaches the server (its own session), so a Ctrl-C in the terminal reaches only us, and a kill -9 of us
 * leaves an ordinary running server that the next start finds through postmaster.pid.
 */
export async function startCluster(binaries: PostgresBinaries, dataDir: string, port: number): Promise<StartResult> {
  const logFile = path.join(dataDir, LOG_FILE);
  // One log per run (the previous one kept as .1): what a failed start reports below is its own lines.
  await fs.rename(logFile, `${logFile}.1`).catch((error: unknown) => {
    if (!isErrorCode(error, 'ENOENT')) throw error;
  });
  const options = `-p ${port} -c listen_addresses=${LISTEN_HOST} -c unix_socket_directories=`;
  const result = await runProgram(binaries, 'pg_ctl', ['start', '-D', dataDir, '-w', '-t', String(START_TIMEOUT_S), '-l', logFile, '-o', options]);
  const pidFile = await readPostmasterPid(dataDir);
  if (result.code === 0 && pidFile && isPostmasterOf(pidFile.pid, dataDir)) return { started: true, pid: pidFile.pid };
  const log = `${result.output}\n${await fs.readFile(logFile, 'utf8').catch(() => '')}`;
  // Timed out: pg_ctl leaves the server starting. Not one another process started (its lock file made ours fail).
  if (/did not start in time/.test(result.output) && pidFile && isPostmasterOf(pidFile.pid, dataDir)) {
    await stopPostmaster(binaries, dataDir, pidFile.pid);
  }
  return { started: false, log: lastLines(log) };
}
