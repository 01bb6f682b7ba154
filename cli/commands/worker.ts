import type { Command } from 'commander';

interface WorkerFlags {
  server?: string;
  enrollmentToken?: string;
  token?: string;
  name?: string;
  concurrency?: string;
  workDir?: string;
  tags?: string;
  costPerHour?: string;
  keepWorkdirs?: boolean;
  drainTimeout?: string;
  killGrace?: string;
}

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('run a worker agent: register, claim work that fits this machine, run and measure it, report back')
    .option('--server <url>', 'server URL (default: $WORKSCHED_URL)')
    .option('--enrollment-token <token>', 'token to register with (default: $WORKSCHED_ENROLLMENT_TOKEN)')
    .option('--token <token>', 'an existing worker token (default: $WORKSCHED_WORKER_TOKEN, else the one saved at registration)')
    .option('--name <name>', 'worker name (default: the host name)')
    .option('--concurrency <n>', 'tasks run at once (default: 1)')
    .option('--work-dir <dir>', 'task working directories and worker state (default: ./.worksched/worker)')
    .option('--tags <a,b>', 'tags that requests may require')
    .option('--cost-per-hour <x>', 'cost of this worker per hour, for budgets')
    .option('--keep-workdirs', 'keep each task\'s working directory after it ends')
    .option('--drain-timeout <seconds>', 'on SIGTERM/SIGINT, wait this long for running tasks (default: 60)')
    .option('--kill-grace <seconds>', 'SIGTERM → SIGKILL grace at a time limit (default: 10)')
    .action(async (flags: WorkerFlags) => {
      const { compileWorkerConfig } = await import('../../worker/config');
      const { WorkerAgent } = await import('../../worker/agent');
      const config = compileWorkerConfig({
        server: flags.server,
        enrollmentToken: flags.enrollmentToken,
        token: flags.token,
        name: flags.name,
        concurrency: flags.concurrency,
        workDir: flags.workDir,
        tags: flags.tags,
        costPerHour: flags.costPerHour,
        keepWorkdirs: flags.keepWorkdirs,
        drainTimeoutS: flags.drainTimeout,
        killGraceS: flags.killGrace,
      });
      const agent = new WorkerAgent(config);
      let signals = 0;
      const onSignal = (signal: NodeJS.Signals) => {
        signals += 1;
        if (signals === 1) {
          agent.logger.info({ signal }, 'signal received: draining (send it again to stop at once)');
          agent.stop().then(() => process.exit(0), () => process.exit(1));
        } else {
          agent.logger.warn({ signal }, 'second signal: killing running tasks and exiting');
          agent.stopNow().finally(() => process.exit(130));
        }
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      await agent.start();
    });
}
