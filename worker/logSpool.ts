import fs from 'node:fs';
import path from 'node:path';
import type { LogEntry } from '../protocol/workRequest';

/**
 * Log entries of a task the server has not acknowledged when the task ends (a server outage), or all of them
 * once too much is buffered, so the outbox delivers them with the result, also after a worker restart. Removed
 * once the server has them all. Which requests have a file is kept in memory: most tasks never write one, and
 * asking the disk for each would cost syscalls per task.
 */
export class LogSpool {
  private readonly spooled = new Set<number>();

  constructor(private readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const name of fs.readdirSync(dir)) {
      const id = Number(name.replace(/\.ndjson$/, ''));
      if (name.endsWith('.ndjson') && Number.isInteger(id)) this.spooled.add(id);
    }
  }

  fileFor(workRequestId: number): string {
    return path.join(this.dir, `${workRequestId}.ndjson`);
  }

  append(workRequestId: number, entries: readonly LogEntry[]): void {
    if (entries.length === 0) return;
    fs.appendFileSync(this.fileFor(workRequestId), entries.map((entry) => JSON.stringify(entry) + '\n').join(''));
    this.spooled.add(workRequestId);
  }

  /** Entries with seq > afterSeq, in order. A torn last line (crash mid-write) is skipped. */
  read(workRequestId: number, afterSeq: number): LogEntry[] {
    if (!this.spooled.has(workRequestId)) return [];
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
    if (!this.spooled.delete(workRequestId)) return;
    fs.rmSync(this.fileFor(workRequestId), { force: true });
  }
}
