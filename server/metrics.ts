import type { RequestHandler } from 'express';
import type { MikroORM } from '@mikro-orm/postgresql';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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

  constructor(orm: MikroORM) {
    collectDefaultMetrics({ register: this.registry, prefix: 'worksched_' });
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
