import { Command, CommanderError } from 'commander';
import { ZodError } from 'zod';
import { describeZodError } from '../protocol/errors';
import { WorkschedApiError, WorkschedConnectionError } from '../client/http';
import { CliUsageError } from './errors';
import { packageVersion } from './version';
import { registerWorkerCommand } from './commands/worker';

const program = new Command()
  .name('worksched')
  .description('worksched: a work-request scheduler on PostgreSQL')
  .version(packageVersion(), '-V, --version', 'print the version of worksched')
  .exitOverride();

/**
 * `worksched worker` is a long-running agent that forks for every task it runs (a fork copies the memory map):
 * it loads its own command only. Everything else registers all of them (the help lists them).
 */
async function registerCommands(): Promise<void> {
  if (process.argv[2] === 'worker') registerWorkerCommand(program);
  else (await import('./allCommands')).registerAllCommands(program);
  configureErrorOutput();
}

// A usage mistake is one line on stderr ("worksched submit: unknown option '--bogus' (Did you mean --logs?); …").
const withSubcommands = (command: Command, name: string): Array<[Command, string]> => [
  [command, name],
  ...command.commands.flatMap((sub) => withSubcommands(sub, `${name} ${sub.name()}`)),
];
function configureErrorOutput(): void {
  for (const [command, name] of withSubcommands(program, 'worksched')) {
    command.configureOutput({
      outputError: (message, write) => {
        const text = message.trim().replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
        write(`${name}: ${text}; see \`${name} --help\`\n`);
      },
    });
  }
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

registerCommands().then(() => program.parseAsync(process.argv)).catch((error: unknown) => {
  if (error instanceof CommanderError) {
    // commander printed its own message already; help and version are not errors.
    process.exit(error.exitCode === 0 ? 0 : 2);
  }
  process.stderr.write(`worksched: ${describe(error)}\n`);
  process.exit(exitCodeFor(error));
});
