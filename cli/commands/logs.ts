import type { Command } from 'commander';
import type { WorkschedClient } from '../../client';
import { connect, withConnectionOptions, type ConnectionOptions } from '../connection';
import { parseIdArgument, withNotFoundHint } from '../format';
import { printLogEntry } from '../printLogEntry';

interface LogsFlags extends ConnectionOptions {
  follow?: boolean;
}

/** Entries per page when reading stored logs (the server allows up to 100,000). */
const PAGE = 10_000;

export function registerLogsCommand(program: Command): void {
  withConnectionOptions(
    program
      .command('logs')
      .description("print a work request's log: stdout entries on stdout, stderr and [system] entries on stderr")
      .argument('<id>', 'work request id')
      .option('-f, --follow', 'keep printing new entries until the request ends'),
  ).action(async (id: string, flags: LogsFlags) => {
    const requestId = parseIdArgument(id);
    // `worksched logs 42 | head` closes the pipe early: that is the reader being done, not an error.
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(0);
      throw error;
    });
    await printLogs(connect(flags), requestId, flags.follow ?? false).catch((error: unknown) => {
      throw withNotFoundHint(error);
    });
  });
}

async function printLogs(client: WorkschedClient, requestId: number, follow: boolean): Promise<void> {
  if (follow) {
    for await (const entry of client.followLogs(requestId)) await printLogEntry(entry);
    return;
  }
  let afterSeq = -1;
  for (;;) {
    const page = await client.getLogs(requestId, { afterSeq, limit: PAGE });
    for (const entry of page.entries) await printLogEntry(entry);
    if (page.entries.length < PAGE) {
      if (page.truncated) {
        process.stderr.write('worksched: this log was truncated by the server (it keeps a limited size per request)\n');
      }
      return;
    }
    afterSeq = page.entries[page.entries.length - 1].seq;
  }
}
