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

/** A counting semaphore, first come first served. */
export class OperatorReadGate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly limit: number) {}

  /** Runs `work` once a slot is free; a caller whose `signal` fired while it queued is dropped (undefined). */
  async run<T>(signal: AbortSignal, work: () => Promise<T>): Promise<T | undefined> {
    if (this.running >= this.limit) {
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
    const next = this.waiting.shift();
    // The slot passes straight to the next caller, so `running` stays counted.
    if (next) next();
    else this.running -= 1;
  }
}
