/**
 * The handle on a running server that startEmbeddedPostgres returns, and the 'exit' safety net for servers
 * whose handle was never stopped.
 */
import { withClient } from '../../common/withClient';
import type { PostgresBinaries } from './binaries';
import { connectionUrl } from './connection';
import { signal } from './processes';
import { isPostmasterOf } from './postmaster';
import { PostmasterSupervisor, type SupervisorLog } from './supervisor';

export interface RunningPostgres {
  /** postgres://postgres:PASSWORD@127.0.0.1:PORT/postgres */
  url: string;
  port: number;
  dataDir: string;
  /** The postmaster's process id (a new one after the supervisor restarted it). */
  readonly pid: number;
  /**
   * True when a server already running on dataDir was used instead of starting one: adopted if the process that
   * started it has ended (a kill -9), shared if that process is still alive.
   */
  reusedExistingServer: boolean;
  /** Creates database `name` (optionally as a copy of `template`) and returns its URL. */
  createDatabase(name: string, template?: string): Promise<string>;
  /**
   * `pg_ctl stop -m fast`; resolves once the postmaster and its children are gone. Safe to call twice.
   * A server that another live process started (and shares with us) is left running.
   */
  stop(): Promise<void>;
}

/** Postmasters started or adopted here and not yet stopped. */
const unstoppedPostmasters = new Map<number, string>();
let exitListenerInstalled = false;

/**
 * If the process exits without calling stop() (process.exit, an uncaught error), ask the servers for a fast
 * shutdown (SIGINT, what `pg_ctl stop -m fast` sends) so they don't outlive us. Only 'exit' (synchronous;
 * cannot wait), no signal handlers: signals belong to the caller.
 */
function stopServersOnExit(pid: number, dataDir: string): void {
  unstoppedPostmasters.set(pid, dataDir);
  if (exitListenerInstalled) return;
  exitListenerInstalled = true;
  process.on('exit', () => {
    for (const [postmasterPid, postmasterDataDir] of unstoppedPostmasters) {
      // Checked first: it may have been stopped by other means and its pid reused.
      if (isPostmasterOf(postmasterPid, postmasterDataDir)) signal(postmasterPid, 'SIGINT');
    }
  });
}

/** Restart the postmaster when it dies (see supervisor.ts), reporting to `log`. */
export interface Supervision {
  binaries: PostgresBinaries;
  log: SupervisorLog;
}

export function runningHandle(details: {
  port: number;
  password: string;
  dataDir: string;
  pid: number;
  reusedExistingServer: boolean;
  /** Stops the postmaster `pid` (the current one). */
  stopServer: (pid: number) => Promise<void>;
  /** False for a server another live process started: stop() leaves it running (and its owner supervises it). */
  owned?: boolean;
  supervise?: Supervision;
}): RunningPostgres {
  const { port, password, dataDir, pid, reusedExistingServer, stopServer, owned = true, supervise } = details;
  const url = connectionUrl(port, password, 'postgres');
  let stopping: Promise<void> | undefined;
  if (owned) stopServersOnExit(pid, dataDir);
  const supervisor =
    owned && supervise
      ? new PostmasterSupervisor({ binaries: supervise.binaries, dataDir, port, log: supervise.log }, pid, (oldPid, newPid) => {
          unstoppedPostmasters.delete(oldPid);
          unstoppedPostmasters.set(newPid, dataDir);
        })
      : null;
  return {
    url,
    port,
    dataDir,
    get pid() {
      return supervisor?.currentPid ?? pid;
    },
    reusedExistingServer,
    async createDatabase(name, template) {
      await withClient(url, (client) => {
        const templateClause = template === undefined ? '' : ` TEMPLATE ${client.escapeIdentifier(template)}`;
        return client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}${templateClause}`);
      });
      return connectionUrl(port, password, name);
    },
    stop() {
      stopping ??= (async () => {
        await supervisor?.stop();
        const current = supervisor?.currentPid ?? pid;
        await stopServer(current);
        unstoppedPostmasters.delete(current);
      })();
      return stopping;
    },
  };
}
