/** A server already running on the data dir at start: share it, adopt it after a kill -9, or clear it away. */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { PostgresBinaries } from './binaries';
import { answersFor } from './connection';
import { LISTEN_HOST, START_TIMEOUT_S } from './constants';
import { delay, majorVersion } from './helpers';
import { isPostmasterOf, readPostmasterPid, stopPostmaster } from './postmaster';
import { identify, isStillRunning } from './processes';
import { runningHandle, type RunningPostgres } from './runningHandle';
import { writeSettings, type ServerSettings } from './settings';
import type { SupervisorLog } from './supervisor';

/**
 * A postgres already running on `dataDir` holds postmaster.pid. If it answers with our password on the port
 * wanted, use it: share it (it stays running) while the process recorded as its owner lives, adopt it (we stop
 * it later) when that process is gone (kill -9). Otherwise stop an orphan, or remove a stale lock file.
 */
export async function useOrClearRunningServer(context: {
  dataDir: string;
  settingsFile: string;
  settings: ServerSettings | undefined;
  wantedPort: number | undefined;
  binaries: PostgresBinaries;
  progress: (line: string) => void;
  supervise?: SupervisorLog;
}): Promise<RunningPostgres | undefined> {
  const { dataDir, settingsFile, settings, wantedPort, binaries, progress, supervise } = context;
  let pidFile = await readPostmasterPid(dataDir);
  // Another process is starting this server right now: judge it once it is ready (or gone).
  const waitUntil = Date.now() + START_TIMEOUT_S * 1000;
  while (pidFile && pidFile.status !== 'ready' && isPostmasterOf(pidFile.pid, dataDir) && Date.now() < waitUntil) {
    await delay(50);
    pidFile = await readPostmasterPid(dataDir);
  }
  if (!pidFile) return undefined;
  const postmasterPid = pidFile.pid;
  if (!isPostmasterOf(postmasterPid, dataDir)) {
    // pg_ctl and postgres only ignore a lock file whose pid is dead, not one whose pid was reused by another process.
    progress(`removing stale ${path.join(dataDir, 'postmaster.pid')} (pid ${postmasterPid} is not a PostgreSQL server for it)`);
    await fs.rm(path.join(dataDir, 'postmaster.pid'), { force: true });
    return undefined;
  }
  const owner = settings?.owner && isStillRunning(settings.owner) ? settings.owner : undefined;
  const usable =
    settings !== undefined &&
    settings.initialised &&
    (wantedPort === undefined || wantedPort === pidFile.port) &&
    pidFile.port === settings.port &&
    (await answersFor(settings.port, settings.password, dataDir));
  if (usable) {
    const handle = { port: settings.port, password: settings.password, dataDir, pid: postmasterPid, reusedExistingServer: true };
    if (owner) {
      progress(`PostgreSQL for ${dataDir} is already running (pid ${postmasterPid}, started by process ${owner.pid}): sharing it`);
      progress(`PostgreSQL ${await majorVersion(dataDir)} listening on ${LISTEN_HOST}:${settings.port}`);
      return runningHandle({ ...handle, stopServer: () => Promise.resolve(), owned: false });
    }
    progress(`PostgreSQL for ${dataDir} is still running (pid ${postmasterPid}), left by a process that has ended: reusing it`);
    await writeSettings(settingsFile, { ...settings, owner: identify(process.pid) });
    progress(`PostgreSQL ${await majorVersion(dataDir)} listening on ${LISTEN_HOST}:${settings.port}`);
    return runningHandle({ ...handle, stopServer: (current) => stopPostmaster(binaries, dataDir, current), supervise: supervise && { binaries, log: supervise } });
  }
  if (owner) {
    throw new Error(
      `PostgreSQL for ${dataDir} is running on port ${pidFile.port ?? '?'} (pid ${postmasterPid}) for process ${owner.pid}` +
        (wantedPort !== undefined && wantedPort !== pidFile.port ? `, not on the port asked for (${wantedPort})` : ' but does not answer') +
        `: stop that process first`,
    );
  }
  progress(`stopping PostgreSQL (pid ${postmasterPid}) left running for ${dataDir} by a process that has ended`);
  await stopPostmaster(binaries, dataDir, postmasterPid);
  return undefined;
}
