import cluster, { type Worker } from 'node:cluster';
import type { ServerConfig } from '../../server/config';

/** What a replica process tells the primary once it listens. */
interface ReplicaReady {
  type: 'worksched-ready';
  url: string;
  credentialsFile: string;
}

const STOP_MESSAGE = 'worksched-stop';

/**
 * `worksched server --processes N`: this primary process starts the database (the embedded one, unless a URL
 * is given) and forks N replicas of the whole server on node:cluster, sharing the one port (the primary hands
 * connections out in turn). They share the database as separate servers do: LISTEN/NOTIFY wakes claimers on
 * every replica, housekeeping runs one at a time through its advisory locks. The first replica migrates and
 * writes the credentials before the others start. A replica that dies after it was ready is replaced.
 */
export async function runServerPrimary(
  config: ServerConfig,
  processes: number,
  progress: (line: string) => void,
): Promise<{ url: string; credentialsFile: string; close(): Promise<void> }> {
  const { resolveDatabase } = await import('../../server/resolveDatabase');
  const { acquireInstanceLock } = await import('../../server/instanceLock');
  // The primary holds the data dir for its replicas (they skip the lock).
  const lock = acquireInstanceLock(config.dataDir);
  let database: Awaited<ReturnType<typeof resolveDatabase>>;
  try {
    // The primary owns the embedded PostgreSQL: it restarts it if it dies; the replicas reconnect.
    database = await resolveDatabase(config, progress, { info: progress, warn: progress });
  } catch (error) {
    lock.release();
    throw error;
  }
  let stopping = false;
  const replicas = new Set<Worker>();
  const fork = (): Promise<ReplicaReady> => {
    const replica = cluster.fork({ DATABASE_URL: database.databaseUrl });
    replicas.add(replica);
    let ready = false;
    return new Promise<ReplicaReady>((resolve, reject) => {
      replica.on('message', (message: ReplicaReady) => {
        if (message?.type !== 'worksched-ready') return;
        ready = true;
        resolve(message);
      });
      replica.on('exit', (code, signal) => {
        replicas.delete(replica);
        reject(new Error(`server process ${replica.process.pid} exited (code ${code}, signal ${signal}) before it was ready`));
        // One that never got ready (bad database, port taken) would fail again: the start fails instead.
        if (stopping || !ready) return;
        progress(`worksched: server process ${replica.process.pid} exited (code ${code}, signal ${signal}); starting another`);
        fork().catch((error: unknown) => progress(`worksched: ${(error as Error).message}`));
      });
    });
  };
  const close = async () => {
    stopping = true;
    await Promise.all(
      [...replicas].map(
        (replica) =>
          new Promise<void>((resolve) => {
            const kill = setTimeout(() => replica.kill('SIGKILL'), 30_000);
            replica.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            if (replica.isConnected()) replica.send(STOP_MESSAGE);
            else replica.kill('SIGTERM');
          }),
      ),
    );
    await database.stop();
    lock.release();
  };
  try {
    const first = await fork();
    await Promise.all(Array.from({ length: processes - 1 }, () => fork()));
    lock.setUrl(first.url);
    progress(`worksched: ${processes} server processes on ${first.url}`);
    return { url: first.url, credentialsFile: first.credentialsFile, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** In a replica forked by runServerPrimary: reports ready, and closes `close` when the primary says stop. */
export function serveAsReplica(server: { url: string; credentialsFile: string }, close: () => Promise<void>): void {
  const ready: ReplicaReady = { type: 'worksched-ready', url: server.url, credentialsFile: server.credentialsFile };
  process.on('message', (message) => {
    if (message !== STOP_MESSAGE) return;
    close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
  process.send?.(ready);
}

export const isServerReplica = (): boolean => cluster.isWorker;
