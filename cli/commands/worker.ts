import type { Command } from 'commander';
import { ignoreBrokenPipes } from '../brokenPipes';
import { CliUsageError } from '../errors';
import type { StopSummary, WorkerAgent } from '../../worker/agent';

interface WorkerFlags {
  server: string[];
  enrollmentToken?: string;
  enrollmentTokenFile?: string;
  token?: string;
  name?: string;
  concurrency?: string;
  workDir?: string;
  tags?: string;
  costPerHour?: string;
  keepWorkdirs?: boolean;
  drainTimeout?: string;
  killGrace?: string;
  passEnv: string[];
  runAs?: string;
  logMax?: string;
}

/** What `worksched start` hears from its local worker over the IPC channel before the worker exits. */
export interface WorkerStoppedMessage {
  type: 'worksched-worker-stopped';
  summary: StopSummary;
  immediate: boolean;
}

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('run a worker agent: register, claim work that fits this machine, run and measure it, report back')
    .option('--server <url>', 'server URL; repeat it (or separate with commas) for replicas on one database, which the worker fails over between (default: $WORKSCHED_URL)', collect, [])
    .option('--enrollment-token-file <path>', 'file holding the token to register with (default: $WORKSCHED_ENROLLMENT_TOKEN)')
    .option('--enrollment-token <token>', 'token to register with; visible in `ps`, prefer the file or the variable')
    .option('--token <token>', 'an existing worker token (default: $WORKSCHED_WORKER_TOKEN, else the one saved at registration)')
    .option('--name <name>', 'worker name (default: the host name)')
    .option('--concurrency <n>', 'tasks run at once (default: 1)')
    .option('--work-dir <dir>', 'task working directories and worker state (default: ./.worksched/worker)')
    .option('--tags <a,b>', 'tags that requests may require')
    .option('--cost-per-hour <x>', 'cost of this worker per hour, for budgets')
    .option('--keep-workdirs', 'keep each task\'s working directory after it ends')
    .option('--drain-timeout <seconds>', 'on SIGTERM/SIGINT, wait this long for running tasks (default: 60)')
    .option('--kill-grace <seconds>', 'SIGTERM → SIGKILL grace at a time limit (default: 10)')
    .option('--run-as <user>', 'a root worker runs tasks as this user (default: $WORKSCHED_RUN_AS, else one user per concurrent task, worksched-task-N, created with useradd; `root` keeps them root)')
    .option('--log-max <size>', 'ship at most this much of one task\'s log, e.g. 16MiB; past it one line says it was truncated (default: $WORKSCHED_LOG_MAX_BYTES or 16MiB)')
    .option('--pass-env <name>', 'pass this variable of the worker\'s environment to tasks (repeatable; default: $WORKSCHED_PASS_ENV, comma-separated)', collect, [])
    .action(async (flags: WorkerFlags) => {
      ignoreBrokenPipes();
      const { compileWorkerConfig, WorkerConfigError } = await import('../../worker/config');
      const { WorkerAgent } = await import('../../worker/agent');
      let config;
      try {
        config = compileWorkerConfig({
          server: flags.server.length > 0 ? flags.server : undefined,
          enrollmentToken: flags.enrollmentToken,
          enrollmentTokenFile: flags.enrollmentTokenFile,
          token: flags.token,
          name: flags.name,
          concurrency: flags.concurrency,
          workDir: flags.workDir,
          tags: flags.tags,
          costPerHour: flags.costPerHour,
          keepWorkdirs: flags.keepWorkdirs,
          drainTimeoutS: flags.drainTimeout,
          killGraceS: flags.killGrace,
          passEnv: flags.passEnv,
          runAs: flags.runAs,
          logMaxBytes: flags.logMax,
        });
      } catch (error) {
        throw error instanceof WorkerConfigError ? new CliUsageError(error.message) : error;
      }
      const agent = new WorkerAgent(config);
      stopOnSignalsOrParentExit(agent);
      try {
        await agent.start();
      } catch (error) {
        throw error instanceof WorkerConfigError ? new CliUsageError(error.message) : error;
      }
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/**
 * The first SIGINT/SIGTERM drains, a second stops at once. Started by `worksched start` (an IPC channel), the
 * worker also drains when that parent goes away, and tells it what it stopped.
 */
function stopOnSignalsOrParentExit(agent: WorkerAgent): void {
  let requests = 0;
  const stop = (why: string) => {
    requests += 1;
    const immediate = requests > 1;
    if (immediate) agent.logger.warn(`${why} again: killing running tasks, handing them back, exiting`);
    else agent.logger.info(`${why}: draining (no new work; running tasks finish); send it again to stop at once`);
    (immediate ? agent.stopNow() : agent.stop()).then(
      (summary) => exitAfterStop(agent, summary, immediate),
      (error: unknown) => {
        agent.logger.error({ err: error }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  if (process.send) process.once('disconnect', () => requests === 0 && stop('the parent process went away'));
}

function exitAfterStop(agent: WorkerAgent, summary: StopSummary, immediate: boolean): void {
  const kept = summary.undelivered > 0 ? `; ${summary.undelivered} report(s) kept on disk for the next start` : '';
  agent.logger.info({ ...summary }, `worker stopped: ${summary.finished} task(s) finished, ${summary.handedBack} handed back to the server${kept}`);
  const message: WorkerStoppedMessage = { type: 'worksched-worker-stopped', summary, immediate };
  const exit = () => process.exit(immediate ? 130 : 0);
  if (process.send && process.connected) process.send(message, undefined, {}, () => exit());
  else exit();
}
