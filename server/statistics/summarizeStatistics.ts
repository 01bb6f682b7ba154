import type { EntityManager } from '@mikro-orm/postgresql';
import type { StatisticsSummary } from '../../protocol/statistics';
import { WORKER_STATES } from '../../protocol/workerApi';
import { WORK_REQUEST_RESULTS, WORK_REQUEST_STATUSES, type WorkRequestResult, type WorkRequestStatus } from '../../protocol/workRequest';
import { listWorkers } from '../workers/listWorkers';
import { workerState } from '../workers/serializeWorker';

/**
 * The three counts in one statement (one snapshot: every write committed before the call is counted), each
 * through an index rather than a pass over the table's heap: by status and result from the status index that
 * carries `result` (an index-only scan), the unschedulable ones among the pending (a partial index), what
 * ended in the last hour from work_request_completed_idx (index-only, the hour's range). Scalar subqueries,
 * not a UNION: the planner would run the branches in parallel workers, more CPU for a poll.
 */
const SUMMARY_SQL = `select
    (select coalesce(json_agg(json_build_array(status, result, n)), '[]') from (select status, result, count(*) as n from work_request group by 1, 2) a) as all_rows,
    (select count(*) from work_request where status = 'pending' and unschedulable_reason is not null) as unschedulable,
    (select coalesce(json_agg(json_build_array(status, result, n)), '[]') from (
       select status, result, count(*) as n from work_request
       where completed_at >= now() - interval '1 hour' and status in ('completed', 'aborted') group by 1, 2) h) as last_hour_rows`;

interface SummaryRow {
  all_rows: Array<[WorkRequestStatus, WorkRequestResult | null, number]>;
  unschedulable: string;
  last_hour_rows: Array<[WorkRequestStatus, WorkRequestResult | null, number]>;
}

/**
 * GET /statistics/summary: work requests by status and by result, the pending ones no worker can run
 * (unschedulable_reason set), workers by state, and what ended in the last hour (SUMMARY_SQL).
 */
export async function summarizeStatistics(em: EntityManager): Promise<StatisticsSummary> {
  const [row] = await em.execute<SummaryRow[]>(SUMMARY_SQL);
  const byStatus = zeroCounts(WORK_REQUEST_STATUSES);
  const byResult = zeroCounts(WORK_REQUEST_RESULTS);
  let total = 0;
  const unschedulable = Number(row.unschedulable);
  const lastHourByResult = zeroCounts(WORK_REQUEST_RESULTS);
  let lastHourAborted = 0;
  for (const [status, result, n] of row.last_hour_rows) {
    const recent = Number(n);
    if (status === 'aborted') lastHourAborted += recent;
    else if (result !== null) lastHourByResult[result] += recent;
  }
  for (const [status, result, n] of row.all_rows) {
    const count = Number(n);
    total += count;
    byStatus[status] += count;
    if (result !== null) byResult[result] += count;
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
