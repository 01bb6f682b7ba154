import type { Command } from 'commander';
import type { LogEntry, WorkschedClient } from '../../client';
import { connect, withConnectionOptions, type ConnectionOptions } from '../connection';
import { parseIdArgument, withNotFoundHint } from '../format';
import { printLogEntry } from '../printLogEntry';

interface LogsFlags extends ConnectionOptions {
  follow?: boolean;
  json?: boolean;
}

/** Entries per page when reading stored logs (the server allows up to 100,000). */
const PAGE = 10_000;

export function registerLogsCommand(program: Command): void {
  withConnectionOptions(
    program
      .command('logs')
      .description("print a work request's log: stdout entries on stdout, stderr and [system] entries on stderr")
      .argument('<id>', 'work request id')
      .option('-f, --follow', 'keep printing new entries until the request ends')
      .option('--json', 'every entry (all streams) on stdout as JSON, one object per line: {seq, ts, stream, text}'),
  ).action(async (id: string, flags: LogsFlags) => {
    const requestId = parseIdArgument(id);
    // `worksched logs 42 | head` closes the pipe early: that is the reader being done, not an error.
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(0);
      throw error;
    });
    await printLogs(connect(flags), requestId, flags.follow ?? false, flags.json ? printJsonLine : printLogEntry).catch((error: unknown) => {
      throw withNotFoundHint(error);
    });
  });
}

/** `--json`: NDJSON, the API's own entries (as GET …/logs?follow=true streams them). */
function printJsonLine(entry: LogEntry): Promise<void> {
  return new Promise((resolve) => {
    if (process.stdout.write(`${JSON.stringify(entry)}\n`)) resolve();
    else process.stdout.once('drain', resolve);
  });
}

async function printLogs(client: WorkschedClient, requestId: number, follow: boolean, print: (entry: LogEntry) => Promise<void>): Promise<void> {
  if (follow) {
    for await (const entry of client.followLogs(requestId)) await print(entry);
    return;
  }
  let afterSeq = -1;
  for (;;) {
    const page = await client.getLogs(requestId, { afterSeq, limit: PAGE });
    for (const entry of page.entries) await print(entry);
    if (page.entries.length < PAGE) {
      if (page.truncated) {
        process.stderr.write('worksched: this log was truncated by the server (it keeps a limited size per request)\n');
      }
      return;
    }
    afterSeq = page.entries[page.entries.length - 1].seq;
  }
}
