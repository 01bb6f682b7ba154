import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/** `<dataDir>/server.lock`: which process serves this data dir, and at which URL (null while it starts). */
const lockSchema = z.object({
  pid: z.number().int(),
  /** The process's start time in clock ticks since boot (/proc): a pid reused after a reboot is not the holder. */
  process_start: z.string().nullable(),
  url: z.string().nullable(),
  started_at: z.string(),
});
type LockContent = z.infer<typeof lockSchema>;

/** Another live process holds the data dir: starting a second server on it would take over its credentials. */
export class InstanceRunningError extends Error {
  readonly code = 'instance_running';
  constructor(
    readonly dataDir: string,
    readonly holder: LockContent,
  ) {
    super(
      holder.url
        ? `worksched is already running on data dir ${dataDir} at ${holder.url} (pid ${holder.pid}): use it, stop it first, or give this one another --data-dir`
        : `worksched is already starting on data dir ${dataDir} (pid ${holder.pid}): wait for it, stop it first, or give this one another --data-dir`,
    );
    this.name = 'InstanceRunningError';
  }
}

export interface InstanceLock {
  /** Records the URL once the server listens, for the message a second instance prints. */
  setUrl(url: string): void;
  /** Removes the lock if it is still ours. */
  release(): void;
}

export function lockPath(dataDir: string): string {
  return path.join(dataDir, 'server.lock');
}

/**
 * Takes the data dir for this process: creates the lock file exclusively; a lock of a process that is gone
 * (killed, crashed) is taken over; one of a live process is an InstanceRunningError.
 */
export function acquireInstanceLock(dataDir: string): InstanceLock {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = lockPath(dataDir);
  const content: LockContent = { pid: process.pid, process_start: processStart(process.pid), url: null, started_at: new Date().toISOString() };
  for (let attempt = 0; ; attempt += 1) {
    try {
      fs.writeFileSync(file, JSON.stringify(content) + '\n', { flag: 'wx', mode: 0o644 });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw error;
    }
    const holder = readLock(file);
    if (holder && isAlive(holder)) throw new InstanceRunningError(dataDir, holder);
    fs.rmSync(file, { force: true }); // stale (its process is gone) or torn: take it over
  }
  let current = content;
  return {
    setUrl(url: string) {
      current = { ...current, url };
      const temporary = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(temporary, JSON.stringify(current) + '\n', { mode: 0o644 });
      fs.renameSync(temporary, file);
    },
    release() {
      if (readLock(file)?.pid === process.pid && readLock(file)?.started_at === current.started_at) fs.rmSync(file, { force: true });
    },
  };
}

function readLock(file: string): LockContent | null {
  try {
    return lockSchema.parse(JSON.parse(fs.readFileSync(file, 'utf8')));
  } catch {
    return null;
  }
}

function isAlive(holder: LockContent): boolean {
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false; // EPERM: alive, only not ours to signal
  }
  const start = processStart(holder.pid);
  return holder.process_start === null || start === null || start === holder.process_start;
}

/** Field 22 of /proc/PID/stat (after the parenthesised command name, which may hold spaces); null off Linux. */
function processStart(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}
