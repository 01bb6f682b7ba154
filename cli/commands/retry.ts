import type { Command } from 'commander';
import { WorkschedApiError } from '../../client/http';
import type { WorkRequest } from '../../protocol/workRequest';
import { connect, withConnectionOptions, type ConnectionOptions } from '../connection';
import { parseIdArgument, printJson } from '../format';

interface RetryFlags extends ConnectionOptions {
  json?: boolean;
}

export function registerRetryCommand(program: Command): void {
  withConnectionOptions(
    program
      .command('retry')
      .description('retry work requests that ended without success (failure, error, skipped, aborted): each gets a new attempt that supersedes it')
      .argument('<ids...>', 'work request ids')
      .option('--json', 'print the new attempts as JSON'),
  ).action(async (ids: string[], flags: RetryFlags) => {
    // Every id is checked before anything is retried, as for cancel.
    const requestIds = ids.map((id) => parseIdArgument(id));
    const client = connect(flags);
    const created: WorkRequest[] = [];
    let failures = 0;
    for (const id of requestIds) {
      try {
        const retry = await client.retry(id);
        created.push(retry);
        if (!flags.json) process.stdout.write(`retried ${id} as ${retry.id} (attempt ${retry.attempt} of ${retry.max_attempts}, ${retry.status})\n`);
      } catch (error) {
        // One id that cannot be retried does not stop the others; the exit code tells.
        if (!(error instanceof WorkschedApiError) || error.status === 401 || error.status === 403) throw error;
        process.stderr.write(`worksched: cannot retry ${id}: ${error.message}\n`);
        failures += 1;
      }
    }
    if (flags.json) printJson(created);
    if (failures > 0) process.exitCode = 1;
  });
}
