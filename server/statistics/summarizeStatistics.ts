import type { EntityManager } from '@mikro-orm/postgresql';
import type { StatisticsSummary } from '../../protocol/statistics';
import { WORKER_STATES } from '../../protocol/workerApi';
import { WORK_REQUEST_RESULTS, WORK_REQUEST_STATUSES, type WorkRequestResult, type WorkRequestStatus } from '../../protocol/workRequest';
import { listWorkers } from '../workers/listWorkers';
import { workerState } from '../workers/serializeWorker';

interface CountRow {
  status: WorkRequestStatus;
  result: WorkRequestResult | null;
  unschedulable: boolean;
  count: string;
  last_hour: string;
}

/**
 * GET /statistics/summary: work requests by status and by result, the pending ones no worker can run
 * (unschedulable_reason set), workers by state, and what ended in the last hour. One pass over work_request,
 * grouped three ways at once.
 */
export async function summarizeStatistics(em: EntityManager): Promise<StatisticsSummary> {
  const rows = await em.execute<CountRow[]>(
    `select status, result, (status = 'pending' and unschedulable_reason is not null) as unschedulable, count(*) as count,
       count(*) filter (where status in ('completed', 'aborted') and completed_at >= now() - interval '1 hour') as last_hour
     from work_request group by 1, 2, 3`,
  );
  const byStatus = zeroCounts(WORK_REQUEST_STATUSES);
  const byResult = zeroCounts(WORK_REQUEST_RESULTS);
  let total = 0;
  let unschedulable = 0;
  const lastHourByResult = zeroCounts(WORK_REQUEST_RESULTS);
  let lastHourAborted = 0;
  for (const row of rows) {
    const recent = Number(row.last_hour);
    if (row.status === 'aborted') lastHourAborted += recent;
    else if (row.result !== null) lastHourByResult[row.result] += recent;
    const count = Number(row.count);
    total += count;
    byStatus[row.status] += count;
    if (row.result !== null) byResult[row.result] += count;
    if (row.unschedulable) unschedulable += count;
  }
  const ended = lastHourAborted + Object.values(lastHourByResult).reduce((sum, value) => sum + value, 0);
  const workers = await listWorkers(em);
  const byState = zeroCounts(WORKER_STATES);
  for (const { worker, running } of workers) byState[workerState(worker, running)] += 1;
  return {
    work_requests: { total, by_status: byStatus, by_result: byResult, unschedulable },
    workers: { total: workers.length, by_state: byState },
    last_hour: { ended, by_result: lastHourByResult, aborted: lastHourAborted, per_minute: Math.round((ended / 60) * 100) / 100 },
  };
}

function zeroCounts<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((key) => [key, 0])) as Record<K, number>;
}
