import { promises as fs } from 'fs';
import { join } from 'path';

/**
 * Allocated bytes under `dir` (st_blocks × 512, so sparse files count what they use): lstat only, symlinks
 * are not followed, hard links count once. Files vanishing mid-walk are skipped.
 */
export async function diskUsage(dir: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const visit = async (path: string): Promise<void> => {
    let stat;
    try {
      stat = await fs.lstat(path, { bigint: true });
    } catch {
      return;
    }
    const key = `${stat.dev}:${stat.ino}`;
    if (seen.has(key)) return;
    seen.add(key);
    total += Number(stat.blocks) * 512;
    if (!stat.isDirectory()) return;
    let names: string[];
    try {
      names = await fs.readdir(path);
    } catch {
      return;
    }
    // Bounded fan-out: a few files at a time keeps the event loop responsive on huge trees.
    for (let i = 0; i < names.length; i += 32) {
      await Promise.all(names.slice(i, i + 32).map((name) => visit(join(path, name))));
    }
  };
  await visit(dir);
  return total;
}

/** Peak of diskUsage(dir), sampled every intervalMs (one walk at a time) plus on demand at the end. */
export class DiskSampler {
  private peakBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly dir: string,
    private readonly intervalMs = 250,
  ) {}

  get peak(): number {
    return this.peakBytes;
  }

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      void this.sample().finally(() => {
        if (this.stopped) return;
        this.timer = setTimeout(tick, this.intervalMs);
        this.timer.unref();
      });
    };
    this.timer = setTimeout(tick, this.intervalMs);
    this.timer.unref();
  }

  /** Stop the timer and take one last sample (after any walk in progress). */
  async finish(): Promise<number> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    await this.sample();
    return this.peakBytes;
  }

  private sample(): Promise<void> {
    this.running ??= diskUsage(this.dir)
      .then((bytes) => {
        if (bytes > this.peakBytes) this.peakBytes = bytes;
      })
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }
}
