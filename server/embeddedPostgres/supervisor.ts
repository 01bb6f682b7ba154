/**
 * Keeps the embedded PostgreSQL running: when its postmaster dies (kill -9, the OOM killer, a crash that takes the
 * postmaster down), starts it again on the same data dir and port, with back-off while that fails, and says so.
 * The server's pools, LISTEN connection and housekeeping reconnect by themselves once it answers again.
 */
import { Backoff } from '../../common/backoff';
import type { PostgresBinaries } from './binaries';
import { startCluster } from './cluster';
import { isPostmasterOf, readPostmasterPid } from './postmaster';

/** Where the supervisor reports what it does (the server's logger). */
export interface SupervisorLog {
  info(line: string): void;
  warn(line: string): void;
}

/** How often the postmaster is looked at; a restart itself takes well under a second. */
const CHECK_INTERVAL_MS = 500;

export class PostmasterSupervisor {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private restarting: Promise<void> | null = null;
  private readonly backoff = new Backoff(500, 30_000);
  private failures = 0;

  constructor(
    private readonly context: { binaries: PostgresBinaries; dataDir: string; port: number; log: SupervisorLog },
    private pid: number,
    /** Told the new pid after each restart. */
    private readonly onRestarted: (oldPid: number, newPid: number) => void,
  ) {
    this.schedule(CHECK_INTERVAL_MS);
  }

  /** The postmaster's pid now (it changes at each restart). */
  get currentPid(): number {
    return this.pid;
  }

  /** Stops watching (before a deliberate stop); waits for a restart under way to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.restarting;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (isPostmasterOf(this.pid, this.context.dataDir)) {
        this.schedule(CHECK_INTERVAL_MS);
        return;
      }
      this.restarting = this.restart().finally(() => {
        this.restarting = null;
      });
    }, delayMs);
    // Never what keeps the process alive.
    this.timer.unref();
  }

  private async restart(): Promise<void> {
    const { binaries, dataDir, port, log } = this.context;
    if (this.failures === 0) log.warn(`PostgreSQL (pid ${this.pid}) for ${dataDir} exited unexpectedly; restarting it`);
    // Another process (a replica's primary, an operator) may have started it already: use that one.
    const pidFile = await readPostmasterPid(dataDir).catch(() => undefined);
    let started: { pid: number } | null = pidFile && isPostmasterOf(pidFile.pid, dataDir) && pidFile.status === 'ready' ? { pid: pidFile.pid } : null;
    let failure = '';
    if (!started) {
      try {
        const result = await startCluster(binaries, dataDir, port);
        if (result.started) started = { pid: result.pid };
        else failure = result.log.split('\n').slice(-3).join(' | ');
      } catch (error) {
        failure = (error as Error).message;
      }
    }
    if (this.stopped && started) {
      // Stopped while we restarted it: the owner's stop() looks at currentPid, so hand the new one over.
      this.handOver(started.pid);
      return;
    }
    if (started) {
      this.handOver(started.pid);
      log.info(`PostgreSQL restarted (pid ${started.pid}) on port ${port}${this.failures > 0 ? ` after ${this.failures + 1} attempts` : ''}`);
      this.failures = 0;
      this.backoff.reset();
      this.schedule(CHECK_INTERVAL_MS);
      return;
    }
    this.failures += 1;
    const delayMs = this.backoff.nextDelayMs();
    log.warn(`PostgreSQL restart attempt ${this.failures} failed; trying again in ${(delayMs / 1000).toFixed(1)} s: ${failure}`);
    this.schedule(delayMs);
  }

  private handOver(newPid: number): void {
    const oldPid = this.pid;
    this.pid = newPid;
    this.onRestarted(oldPid, newPid);
  }
}
