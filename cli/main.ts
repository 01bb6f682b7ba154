import { Command, CommanderError } from 'commander';
import { ZodError } from 'zod';
import { describeZodError } from '../protocol/errors';
import { WorkschedApiError, WorkschedConnectionError } from '../client/http';
import { CliUsageError } from './errors';
import { registerCancelCommand } from './commands/cancel';
import { registerLogsCommand } from './commands/logs';
import { registerMigrateCommand } from './commands/migrate';
import { registerServerCommand } from './commands/server';
import { registerShowCommand } from './commands/show';
import { registerStatsCommand } from './commands/stats';
import { registerStartCommand } from './commands/start';
import { registerSubmitCommand } from './commands/submit';
import { registerTokenCommand } from './commands/token';
import { registerWorkerCommand } from './commands/worker';
import { registerWorkersCommand } from './commands/workers';

const program = new Command()
  .name('worksched')
  .description('worksched: a work-request scheduler on PostgreSQL')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

registerStartCommand(program);
registerServerCommand(program);
registerWorkerCommand(program);
registerMigrateCommand(program);
registerSubmitCommand(program);
registerShowCommand(program);
registerLogsCommand(program);
registerCancelCommand(program);
registerWorkersCommand(program);
registerStatsCommand(program);
registerTokenCommand(program);

/** Exit codes: 0 ok, 1 failure (server said no, unreachable, internal), 2 bad usage or input. */
function exitCodeFor(error: unknown): number {
  if (error instanceof CliUsageError || error instanceof ZodError) return 2;
  if (error instanceof WorkschedApiError) return error.status === 400 || error.status === 413 ? 2 : 1;
  return 1;
}

function describe(error: unknown): string {
  if (error instanceof ZodError) return describeZodError(error);
  if (error instanceof WorkschedApiError) {
    const next = error.status === 401 ? ' (give a token with --token or WORKSCHED_TOKEN)' : '';
    return `${error.message}${next}`;
  }
  if (error instanceof WorkschedConnectionError) return `${error.message} (is the server running? check --server or WORKSCHED_URL)`;
  return error instanceof Error ? error.message : String(error);
}

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof CommanderError) {
    // commander printed its own message already; help and version are not errors.
    process.exit(error.exitCode === 0 ? 0 : 2);
  }
  process.stderr.write(`worksched: ${describe(error)}\n`);
  process.exit(exitCodeFor(error));
});
