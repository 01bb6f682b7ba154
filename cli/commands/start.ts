import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { ignoreBrokenPipes } from '../brokenPipes';
import { addServerOptions, printServerBanner, serverOverrides, type ServerFlags } from './server';
import type { WorkerStoppedMessage } from './worker';

// The same entry point this process was started with (bin/worksched.js), from the sources or from dist/.
const WORKSCHED_BIN = process.argv[1];

interface StartFlags extends ServerFlags {
  concurrency: string;
  drainTimeout?: string;
}

/** `npm start`: the server plus one local worker, stopped together by Ctrl-C. */
export function registerStartCommand(program: Command): void {
  addServerOptions(program.command('start').description('run the server and one local worker (what `npm start` does)'))
    .option('--concurrency <n>', 'tasks the local worker runs at once', String(Math.max(1, os.cpus().length)))
    .option('--drain-timeout <seconds>', 'at Ctrl-C, how long the local worker lets running tasks finish before handing them back (default: 60)')
    .action(async (flags: StartFlags) => {
      ignoreBrokenPipes();
      const { compileServerConfig } = await import('../../server/config');
      const { startServer } = await import('../../server/startServer');
      const config = compileServerConfig(serverOverrides(flags));
      const server = await startServer(config, { onProgress: (line) => process.stderr.write(`${line}\n`) });
      const worker = spawnLocalWorker(server.url, server.enrollmentToken, config.dataDir, flags);
      const embedded = config.databaseUrl === undefined;
      stopTogetherOnSignals(worker, () => server.close(), embedded ? 'the server and its PostgreSQL' : 'the server');
      printServerBanner(server);
      process.stdout.write(`  a local worker runs tasks in ${path.join(config.dataDir, 'worker')}\n  stop everything with Ctrl-C\n`);
    });
}

/**
 * In its own process group: the terminal's Ctrl-C reaches only this process, which asks the worker once to
 * drain. (In the terminal's group the worker got Ctrl-C's SIGINT and then our SIGTERM, a second signal,
 * which means "stop at once".) The IPC channel tells the worker when this process dies, and carries back
 * what the worker stopped.
 */
function spawnLocalWorker(serverUrl: string, enrollmentToken: string, dataDir: string, flags: StartFlags): ChildProcess {
  const args = [WORKSCHED_BIN, 'worker', '--server', serverUrl, '--name', `local-${os.hostname()}`, '--work-dir', path.join(dataDir, 'worker'), '--concurrency', flags.concurrency];
  if (flags.drainTimeout !== undefined) args.push('--drain-timeout', flags.drainTimeout);
  return spawn(process.execPath, args, {
    detached: true,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    // The token goes by environment, not argv, so it does not show up in `ps`.
    env: { ...process.env, WORKSCHED_ENROLLMENT_TOKEN: enrollmentToken },
  });
}

/**
 * First SIGINT/SIGTERM: the worker drains (running tasks finish, or are handed back at its drain timeout),
 * then the server stops. Second: the worker kills its tasks and hands them back at once. Third: exit now.
 * The last line says what was stopped.
 */
function stopTogetherOnSignals(worker: ChildProcess, closeServer: () => Promise<void>, serverPart: string): void {
  let stopped: WorkerStoppedMessage | null = null;
  worker.on('message', (message: WorkerStoppedMessage) => {
    if (message?.type === 'worksched-worker-stopped') stopped = message;
  });
  const workerExit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (worker.exitCode !== null || worker.signalCode !== null) resolve({ code: worker.exitCode, signal: worker.signalCode });
    worker.once('exit', (code, signal) => resolve({ code, signal }));
  });
  let signals = 0;
  worker.on('exit', (code, signal) => {
    if (signals === 0 && code !== 0 && signal === null) process.stderr.write(`worksched: the local worker exited with code ${code}\n`);
  });

  const shutDown = async () => {
    const exit = await workerExit;
    await closeServer();
    process.stderr.write(`worksched: stopped ${describeWorkerStop(stopped, exit)}, and ${serverPart}\n`);
    process.exit(signals > 1 ? 130 : 0);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals === 1) {
      process.stderr.write(`worksched: ${signal}: draining the local worker (running tasks finish); press Ctrl-C again to stop them at once\n`);
      signalWorker(worker, 'SIGTERM');
      shutDown().catch((error: unknown) => {
        process.stderr.write(`worksched: shutdown failed: ${(error as Error).message}\n`);
        process.exit(1);
      });
    } else if (signals === 2) {
      process.stderr.write(`worksched: ${signal} again: killing running tasks and handing them back to the server\n`);
      signalWorker(worker, 'SIGTERM');
    } else {
      process.stderr.write(`worksched: ${signal} a third time: exiting now without waiting\n`);
      signalWorker(worker, 'SIGKILL');
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

function signalWorker(worker: ChildProcess, signal: NodeJS.Signals): void {
  if (worker.exitCode === null && worker.signalCode === null) worker.kill(signal);
}

function describeWorkerStop(stopped: WorkerStoppedMessage | null, exit: { code: number | null; signal: NodeJS.Signals | null }): string {
  if (!stopped) return `the local worker (it ended ${exit.signal ? `by ${exit.signal}` : `with code ${exit.code}`})`;
  const { finished, handedBack, undelivered } = stopped.summary;
  const kept = undelivered > 0 ? `, ${undelivered} report(s) kept on disk for the next start` : '';
  return `the local worker (${finished} running task(s) finished, ${handedBack} handed back to the server${kept})`;
}
