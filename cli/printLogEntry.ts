import type { LogEntry } from '../protocol/workRequest';

/** Text as the task wrote it: stdout on stdout, stderr on stderr; system entries are the worker's notes, one `[system] ` line each. */
export function printLogEntry(entry: LogEntry): Promise<void> {
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
