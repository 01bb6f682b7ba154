import type { Command } from 'commander';
import type { WorkschedClient } from '../../client';
import type { LogEntry } from '../../protocol/workRequest';
import { connect, withConnectionOptions, type ConnectionOptions } from '../connection';
import { parseIdArgument, withNotFoundHint } from '../format';

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
    for await (const entry of client.followLogs(requestId)) await printEntry(entry);
    return;
  }
  let afterSeq = -1;
  for (;;) {
    const page = await client.getLogs(requestId, { afterSeq, limit: PAGE });
    for (const entry of page.entries) await printEntry(entry);
    if (page.entries.length < PAGE) {
      if (page.truncated) {
        process.stderr.write('worksched: this log was truncated by the server (it keeps a limited size per request)\n');
      }
      return;
    }
    afterSeq = page.entries[page.entries.length - 1].seq;
  }
}

/** Text as the task wrote it; system entries are the worker's notes, one `[system] ` line each. */
function printEntry(entry: LogEntry): Promise<void> {
  if (entry.stream === 'stdout') return write(process.stdout, entry.text);
  if (entry.stream === 'stderr') return write(process.stderr, entry.text);
  const text = entry.text.endsWith('\n') ? entry.text.slice(0, -1) : entry.text;
  return write(process.stderr, text.split('\n').map((line) => `[system] ${line}\n`).join(''));
}

/** Waits for the stream to drain when it is full, so a long log does not pile up in memory. */
function write(stream: NodeJS.WriteStream, text: string): Promise<void> {
  if (stream.write(text)) return Promise.resolve();
  return new Promise((resolve) => stream.once('drain', resolve));
}
