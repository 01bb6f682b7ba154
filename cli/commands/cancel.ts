import type { Command } from 'commander';
import { WorkschedApiError } from '../../client/http';
import { connect, withConnectionOptions, type ConnectionOptions } from '../connection';
import { parseIdArgument } from '../format';

export function registerCancelCommand(program: Command): void {
  withConnectionOptions(
    program
      .command('cancel')
      .description('cancel work requests: pending ones end at once, running ones are stopped by their worker')
      .argument('<ids...>', 'work request ids'),
  ).action(async (ids: string[], flags: ConnectionOptions) => {
    // Every id is checked before anything is cancelled: a typo must not leave half the list done.
    const requestIds = ids.map((id) => parseIdArgument(id));
    const client = connect(flags);
    let failures = 0;
    for (const id of requestIds) {
      try {
        const before = await client.getWorkRequest(id);
        if (before.status === 'aborted') {
          process.stdout.write(`${id} was already aborted\n`);
          continue;
        }
        const after = await client.cancel(id);
        const stopping = before.status === 'running' ? `; ${before.worker?.name ?? 'its worker'} will stop it` : '';
        process.stdout.write(`cancelled ${after.id} (was ${before.status})${stopping}\n`);
      } catch (error) {
        // One bad id (not found, already completed) does not stop the others; the exit code tells.
        if (!(error instanceof WorkschedApiError) || error.status === 401 || error.status === 403) throw error;
        process.stderr.write(`worksched: cannot cancel ${id}: ${error.message}\n`);
        failures += 1;
      }
    }
    if (failures > 0) process.exitCode = 1;
  });
}
