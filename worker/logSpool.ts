import fs from 'node:fs';
import path from 'node:path';
import type { LogEntry } from '../protocol/workRequest';

/**
 * Every log entry of a running task is appended here before it is shipped, so that entries the server did not
 * acknowledge survive a server outage and a worker restart. Removed once the server has them all.
 */
export class LogSpool {
  constructor(private readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  fileFor(workRequestId: number): string {
    return path.join(this.dir, `${workRequestId}.ndjson`);
  }

  append(workRequestId: number, entry: LogEntry): void {
    fs.appendFileSync(this.fileFor(workRequestId), JSON.stringify(entry) + '\n');
  }

  /** Entries with seq > afterSeq, in order. A torn last line (crash mid-write) is skipped. */
  read(workRequestId: number, afterSeq: number): LogEntry[] {
    let text: string;
    try {
      text = fs.readFileSync(this.fileFor(workRequestId), 'utf8');
    } catch {
      return [];
    }
    const entries: LogEntry[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const entry = JSON.parse(line) as LogEntry;
        if (entry.seq > afterSeq) entries.push(entry);
      } catch {
        // torn write: ignore
      }
    }
    return entries;
  }

  remove(workRequestId: number): void {
    fs.rmSync(this.fileFor(workRequestId), { force: true });
  }
}
