import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { addServerOptions, printServerBanner, serverOverrides, stopOnSignals, type ServerFlags } from './server';

// The same entry point this process was started with (bin/worksched.js), from the sources or from dist/.
const WORKSCHED_BIN = process.argv[1];

/** `npm start`: the server plus one local worker, stopped together by Ctrl-C. */
export function registerStartCommand(program: Command): void {
  addServerOptions(program.command('start').description('run the server and one local worker (what `npm start` does)'))
    .option('--concurrency <n>', 'tasks the local worker runs at once', String(Math.max(1, os.cpus().length)))
    .action(async (flags: ServerFlags & { concurrency: string }) => {
      const { compileServerConfig } = await import('../../server/config');
      const { startServer } = await import('../../server/startServer');
      const config = compileServerConfig(serverOverrides(flags));
      const server = await startServer(config, { onProgress: (line) => process.stderr.write(`${line}\n`) });
      const worker = spawnLocalWorker(server.url, server.enrollmentToken, config.dataDir, flags.concurrency);
      stopOnSignals(async () => {
        await stopChild(worker);
        await server.close();
      });
      worker.on('exit', (code, signal) => {
        if (code !== 0 && signal === null) process.stderr.write(`worksched: the local worker exited with code ${code}\n`);
      });
      printServerBanner(server);
      process.stdout.write(`  a local worker runs tasks in ${path.join(config.dataDir, 'worker')}\n  stop everything with Ctrl-C\n`);
    });
}

function spawnLocalWorker(serverUrl: string, enrollmentToken: string, dataDir: string, concurrency: string): ChildProcess {
  return spawn(
    process.execPath,
    [WORKSCHED_BIN, 'worker', '--server', serverUrl, '--name', `local-${os.hostname()}`, '--work-dir', path.join(dataDir, 'worker'), '--concurrency', concurrency],
    // The token goes by environment, not argv, so it does not show up in `ps`.
    { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, WORKSCHED_ENROLLMENT_TOKEN: enrollmentToken } },
  );
}

/** SIGTERM (the worker drains and reports), SIGKILL if it takes too long. */
function stopChild(child: ChildProcess, graceMs = 30_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
