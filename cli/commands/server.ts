import { InvalidArgumentError, type Command } from 'commander';
import { ignoreBrokenPipes } from '../brokenPipes';
import type { ServerConfigInput } from '../../server/config';
import type { RunningServer } from '../../server/startServer';

export interface ServerFlags {
  host?: string;
  port?: string;
  dataDir?: string;
  databaseUrl?: string;
  heartbeatTimeout?: string;
  logMax?: string;
  maxOutputData?: string;
  createRate?: string;
}

export function addServerOptions(command: Command): Command {
  return command
    .option('--host <host>', 'address to listen on (default: $WORKSCHED_HOST or 127.0.0.1)')
    .option('--port <port>', 'port to listen on (default: $WORKSCHED_PORT or 8080)')
    .option('--data-dir <dir>', 'data directory: embedded PostgreSQL, credentials (default: $WORKSCHED_DATA_DIR or ./.worksched)')
    .option('--database-url <url>', 'use this PostgreSQL instead of the embedded one (default: $DATABASE_URL)')
    .option('--heartbeat-timeout <seconds>', 'declare a worker lost after this long without a heartbeat (default: 30)')
    .option('--log-max <size>', 'stored log of one work request, e.g. 16MiB; past it one line says it was truncated (default: $WORKSCHED_LOG_MAX_BYTES or 16MiB)')
    .option('--max-output-data <size>', 'largest output_data a worker may report, e.g. 2MiB (default: $WORKSCHED_MAX_OUTPUT_DATA or 2MiB)')
    .option('--create-rate <per-second>', 'create calls per second per token (bursts of $WORKSCHED_CREATE_BURST, 10000); 0: no limit (default: $WORKSCHED_CREATE_RATE or 1000)');
}

export function serverOverrides(flags: ServerFlags): Partial<ServerConfigInput> {
  return {
    host: flags.host,
    port: flags.port,
    dataDir: flags.dataDir,
    databaseUrl: flags.databaseUrl,
    heartbeatTimeoutS: flags.heartbeatTimeout,
    logMaxBytes: flags.logMax,
    maxOutputData: flags.maxOutputData,
    createRatePerS: flags.createRate,
  };
}

/** Stops `close` on the first SIGINT/SIGTERM; a second one exits at once. */
export function stopOnSignals(close: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`worksched: ${signal} again, exiting now\n`);
      process.exit(130);
    }
    stopping = true;
    process.stderr.write(`worksched: ${signal} received, shutting down…\n`);
    close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`worksched: shutdown failed: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

export function printServerBanner(server: Pick<RunningServer, 'url' | 'credentialsFile'>, out: NodeJS.WritableStream = process.stdout): void {
  out.write(
    [
      `worksched server ready at ${server.url}`,
      `  tokens (admin, enrollment): ${server.credentialsFile}`,
      `  submit work:  npx worksched submit --task-name hello -- /bin/echo hello`,
      `  watch it:     npx worksched show`,
      '',
    ].join('\n'),
  );
}

export function registerServerCommand(program: Command): void {
  addServerOptions(program.command('server').description('run the worksched server (HTTP API, scheduler, housekeeping)'))
    .option('--processes <n>', 'server processes sharing the port and the database (node:cluster)', '1')
    .action(async (flags: ServerFlags & { processes: string }) => {
      const processes = Number(flags.processes);
      if (!Number.isInteger(processes) || processes < 1 || processes > 256) {
        throw new InvalidArgumentError(`--processes: expected a whole number from 1 to 256, got ${JSON.stringify(flags.processes)}`);
      }
      ignoreBrokenPipes();
      // Loaded here, not at the top: client commands must not pay for the ORM at every start.
      const { compileServerConfig } = await import('../../server/config');
      const { isServerReplica, runServerPrimary, serveAsReplica } = await import('./serverProcesses');
      const config = compileServerConfig(serverOverrides(flags));
      const progress = (line: string) => process.stderr.write(`${line}\n`);
      if (processes > 1 && !isServerReplica()) {
        const primary = await runServerPrimary(config, processes, progress);
        stopOnSignals(() => primary.close());
        printServerBanner(primary);
        return;
      }
      const { startServer } = await import('../../server/startServer');
      const server = await startServer(config, { onProgress: progress, dataDirLockedByPrimary: isServerReplica() });
      if (isServerReplica()) {
        // Ctrl-C reaches every process of the group and the primary says stop too: close once.
        let closing: Promise<void> | null = null;
        const closeOnce = () => (closing ??= server.close());
        stopOnSignals(closeOnce);
        serveAsReplica(server, closeOnce);
        return;
      }
      stopOnSignals(() => server.close());
      printServerBanner(server);
    });
}
