import { Command, CommanderError } from 'commander';
import { ZodError } from 'zod';
import { describeZodError } from '../protocol/errors';
import { WorkschedApiError, WorkschedConnectionError } from '../client/http';
import { CliUsageError } from './errors';
import { packageVersion } from './version';
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

const program = new Command()
  .name('worksched')
  .description('worksched: a work-request scheduler on PostgreSQL')
  .version(packageVersion(), '-V, --version', 'print the version of worksched')
  .exitOverride();

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

// A usage mistake is one line on stderr ("worksched submit: unknown option '--bogus' (Did you mean --logs?); …").
const withSubcommands = (command: Command, name: string): Array<[Command, string]> => [
  [command, name],
  ...command.commands.flatMap((sub) => withSubcommands(sub, `${name} ${sub.name()}`)),
];
for (const [command, name] of withSubcommands(program, 'worksched')) {
  command.configureOutput({
    outputError: (message, write) => {
      const text = message.trim().replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
      write(`${name}: ${text}; see \`${name} --help\`\n`);
    },
  });
}

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
  if (error instanceof WorkschedConnectionError) {
    return `${error.message}: is the server running? Start one with \`npm start\` (or \`worksched server\`), or point --server or WORKSCHED_URL at it`;
  }
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
