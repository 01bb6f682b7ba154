import type { Command } from 'commander';
import { registerCancelCommand } from './commands/cancel';
import { registerLogsCommand } from './commands/logs';
import { registerMigrateCommand } from './commands/migrate';
import { registerRetryCommand } from './commands/retry';
import { registerScheduleCommand } from './commands/schedule';
import { registerServerCommand } from './commands/server';
import { registerRunCommand } from './commands/run';
import { registerShowCommand } from './commands/show';
import { registerStatsCommand } from './commands/stats';
import { registerStartCommand } from './commands/start';
import { registerSubmitCommand } from './commands/submit';
import { registerSummaryCommand } from './commands/summary';
import { registerTokenCommand } from './commands/token';
import { registerWorkerCommand } from './commands/worker';
import { registerWorkersCommand } from './commands/workers';
import { registerWorkflowCommand } from './commands/workflow';

/** Every command, in the order `worksched --help` lists them. */
export function registerAllCommands(program: Command): void {
  registerStartCommand(program);
  registerServerCommand(program);
  registerWorkerCommand(program);
  registerMigrateCommand(program);
  registerSubmitCommand(program);
  registerShowCommand(program);
  registerRunCommand(program);
  registerLogsCommand(program);
  registerCancelCommand(program);
  registerRetryCommand(program);
  registerWorkersCommand(program);
  registerSummaryCommand(program);
  registerStatsCommand(program);
  registerWorkflowCommand(program);
  registerTokenCommand(program);
  registerScheduleCommand(program);
}
