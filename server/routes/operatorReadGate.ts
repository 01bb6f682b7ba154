import type { RouteName } from '../../protocol/routes';

/**
 * The read-only routes the dashboard polls (listings, statistics, timeline). They run at most `limit` at a
 * time, the rest queue: five open tabs then hold one or two PostgreSQL backends and little of the event loop,
 * so the claim, completion, heartbeat and log routes (never gated) keep a CPU on a small machine.
 */
export const OPERATOR_READ_ROUTES: ReadonlySet<RouteName> = new Set<RouteName>([
  'listWorkers',
  'listWorkRequests',
  'listSchedules',
  'listWorkflows',
  'getWorkflow',
  'getRunWorkers',
  'getRunSpend',
  'listTaskStatistics',
  'getTaskStatistics',
  'workerStatistics',
  'statisticsSummary',
  'statisticsTimeline',
  'taskRuns',
]);

/** The worker routes whose calls make workers "active" for the gate (a heartbeat alone does not: idle workers send them). */
export const WORKER_ACTIVITY_ROUTES: ReadonlySet<RouteName> = new Set<RouteName>(['claim', 'completeBatch', 'completeWorkRequest', 'releaseWorkRequest', 'postLogs']);

/**
 * While workers are active (a WORKER_ACTIVITY_ROUTES call started or ended this recently), the gate runs one read
 * at a time. Not "in flight": an idle worker's claim long-polls for many seconds and costs nothing meanwhile.
 */
export const WORKERS_ACTIVE_FOR_MS = 1_000;

/**
 * A counting semaphore, first come first served. Its limit drops to `busyLimit` (default 1) while workers are
 * active (`workerCall` at the start and end of their calls, WORKERS_ACTIVE_FOR_MS after the last one): the
 * dashboard then holds at most one PostgreSQL backend and one serialisation at a time, so on a small machine
 * the claims and completions keep the other core. With idle workers the dashboard gets `limit` again.
 */
export class OperatorReadGate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private lastWorkerCallAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly limit: number,
    private readonly options: { busyLimit?: number; now?: () => number } = {},
  ) {}

  /** The limit now: `limit`, or `busyLimit` while workers are active. */
  get currentLimit(): number {
    const now = this.options.now ?? performance.now.bind(performance);
    const active = now() - this.lastWorkerCallAt < WORKERS_ACTIVE_FOR_MS;
    return active ? Math.min(this.limit, Math.max(1, this.options.busyLimit ?? 1)) : this.limit;
  }

  /** A worker route (claim, completion, logs) started or ended: the gate stays narrow for WORKERS_ACTIVE_FOR_MS. */
  workerCall(): void {
    this.lastWorkerCallAt = (this.options.now ?? performance.now.bind(performance))();
  }

  /** Runs `work` once a slot is free; a caller whose `signal` fired while it queued is dropped (undefined). */
  async run<T>(signal: AbortSignal, work: () => Promise<T>): Promise<T | undefined> {
    if (this.running >= this.currentLimit) {
      // The slot is counted by whoever wakes this caller.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running += 1;
    }
    try {
      // The tab was reloaded or closed while its request queued: nobody reads the answer.
      if (signal.aborted) return undefined;
      return await work();
    } finally {
      this.release();
    }
  }

  private release(): void {
    this.running -= 1;
    // As many queued callers as the limit now allows (it may have narrowed or widened since they queued).
    while (this.waiting.length > 0 && this.running < this.currentLimit) {
      this.running += 1;
      this.waiting.shift()!();
    }
  }
}
