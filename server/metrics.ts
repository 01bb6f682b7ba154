import type { RequestHandler } from 'express';
import type { MikroORM } from '@mikro-orm/postgresql';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { WorkRequestResult } from '../protocol/workRequest';
import { BoundedLabelValues } from './boundedLabelValues';

/** A work request that ended in this process (a worker's report or a cancel): what the task metrics count. */
export interface EndedAttempt {
  taskName: string;
  /** `aborted` for a cancelled request (it has no result). */
  result: WorkRequestResult | 'aborted';
  createdAt: Date;
  startedAt: Date | null;
  completedAt: Date;
  /** As the worker measured it; else completed − started. */
  durationMs?: number;
}

/** Task run times: from sub-second no-ops to day-long builds. */
const DURATION_BUCKETS = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 21_600, 86_400];
/** created → started: a claim within milliseconds up to a day in the queue. */
const QUEUE_WAIT_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14_400, 86_400];

/**
 * Prometheus metrics of one server process, on its own registry (several servers may share a process in tests).
 * Work-request and worker counts are read from the database at scrape time, so every replica reports the
 * same totals.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly claimedRequests: Counter;
  /** Claim transactions run by this process's long-polls (one per check: at once, per wake-up, per slice). */
  readonly claimTransactions: Counter;
  private readonly taskDuration: Histogram<'task_name' | 'result'>;
  private readonly queueWait: Histogram<'task_name' | 'result'>;
  private readonly completions: Counter<'result'>;
  /** Task names as label values: the first N this process sees, the rest `other` (bounded cardinality). */
  private readonly taskNames: BoundedLabelValues;

  constructor(orm: MikroORM, options: { maxTaskNames?: number } = {}) {
    collectDefaultMetrics({ register: this.registry, prefix: 'worksched_' });
    // prom-client's default metrics include gauges named *_total (nodejs_active_handles_total, …), which
    // promtool rejects: _total is for counters. Each has a by-type gauge beside it whose sum is the same figure.
    for (const metric of this.registry.getMetricsAsArray()) {
      if (metric instanceof Gauge && metric.name.endsWith('_total')) this.registry.removeSingleMetric(metric.name);
    }
    this.taskNames = new BoundedLabelValues(options.maxTaskNames ?? 50);
    this.taskDuration = new Histogram({
      name: 'worksched_task_duration_seconds',
      help: 'Run time of work requests that ended in this process (worker-measured), by task name (the first N names, then "other") and result',
      labelNames: ['task_name', 'result'],
      buckets: DURATION_BUCKETS,
      registers: [this.registry],
    });
    this.queueWait = new Histogram({
      name: 'worksched_queue_wait_seconds',
      help: 'Time from created to started of work requests that ended in this process, by task name (the first N names, then "other") and result',
      labelNames: ['task_name', 'result'],
      buckets: QUEUE_WAIT_BUCKETS,
      registers: [this.registry],
    });
    this.completions = new Counter({
      name: 'worksched_work_request_completions_total',
      help: 'Work requests that ended in this process, by result (aborted: cancelled)',
      labelNames: ['result'],
      registers: [this.registry],
    });
    new Gauge({
      name: 'worksched_worker_running_work_requests',
      help: 'Running work requests per worker (workers that are online or still have some running)',
      labelNames: ['worker'],
      registers: [this.registry],
      async collect() {
        const rows = await orm.em.fork().execute<{ worker: string; running: string }[]>(
          `select k.name as worker, count(w.id) as running
           from worker k left join work_request w on w.worker_id = k.id and w.status = 'running'
           group by k.id, k.name, k.online having k.online or count(w.id) > 0`,
        );
        this.reset();
        for (const row of rows) this.set({ worker: row.worker }, Number(row.running));
      },
    });
    this.httpDuration = new Histogram({
      name: 'worksched_http_request_duration_seconds',
      help: 'HTTP requests by route and status (long-poll claims include their wait)',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 60],
      registers: [this.registry],
    });
    this.claimedRequests = new Counter({
      name: 'worksched_claimed_work_requests_total',
      help: 'Work requests handed to workers by this server process',
      registers: [this.registry],
    });
    this.claimTransactions = new Counter({
      name: 'worksched_claim_transactions_total',
      help: 'Claim transactions run by this server process (a long-poll runs one at once and one per wake-up or slice)',
      registers: [this.registry],
    });
    // Replicas behind one port (`worksched server --processes N`) answer /metrics in turn: the pid tells whose page it is.
    new Gauge({
      name: 'worksched_process_info',
      help: 'This server process, always 1; its pid tells the replicas behind one port apart',
      labelNames: ['pid'],
      registers: [this.registry],
    }).set({ pid: String(process.pid) }, 1);
    new Gauge({
      name: 'worksched_work_requests',
      help: 'Work requests by status (unschedulable: pending that no enabled worker can run)',
      labelNames: ['status'],
      registers: [this.registry],
      async collect() {
        const rows = await orm.em.fork().execute<{ status: string; count: string }[]>(
          `select status, count(*) as count from work_request group by status
           union all select 'unschedulable', count(*) from work_request where status = 'pending' and unschedulable_reason is not null`,
        );
        this.reset();
        for (const row of rows) this.set({ status: row.status }, Number(row.count));
      },
    });
    new Gauge({
      name: 'worksched_workers',
      help: 'Registered workers: online/offline, enabled/disabled',
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        const rows = await orm.em.fork().execute<{ state: string; count: string }[]>(
          `select case when not enabled then 'disabled' when online then 'online' else 'offline' end as state, count(*) as count
           from worker group by 1`,
        );
        this.reset();
        for (const row of rows) this.set({ state: row.state }, Number(row.count));
      },
    });
  }

  /** Counts ended attempts and observes their run time and queue wait; call once per attempt, after its commit. */
  recordEnded(attempts: readonly EndedAttempt[]): void {
    for (const attempt of attempts) {
      const labels = { task_name: this.taskNames.valueFor(attempt.taskName), result: attempt.result };
      this.completions.inc({ result: attempt.result });
      if (!attempt.startedAt) continue;
      const durationMs = attempt.durationMs ?? attempt.completedAt.getTime() - attempt.startedAt.getTime();
      this.taskDuration.observe(labels, Math.max(0, durationMs) / 1000);
      this.queueWait.observe(labels, Math.max(0, attempt.startedAt.getTime() - attempt.createdAt.getTime()) / 1000);
    }
  }

  /** Times every request, labelled by its route pattern (not the raw URL, to keep label sets small). */
  middleware(): RequestHandler {
    return (req, res, next) => {
      const end = this.httpDuration.startTimer();
      res.on('finish', () => {
        // express types req.route as any; it is the matched Route (with its path pattern) or undefined.
        const pattern = (req.route as { path?: string } | undefined)?.path;
        const route = pattern ? `${req.baseUrl}${pattern}` : 'unmatched';
        end({ method: req.method, route, status: String(res.statusCode) });
      });
      next();
    };
  }
}
