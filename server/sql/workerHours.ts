/** The UTC hour of worker_hour_statistics a run falls in (UTC: the session's time zone must not move buckets). */
export const workerHour = (completedAt: string): string => `date_trunc('hour', ${completedAt}, 'UTC')`;

/**
 * Adds (sign 1) or subtracts (-1, pruned history) the runs of `source` — a relation with worker_id,
 * completed_at, result and busy_ms — to their workers' hours, one upsert for all of them. Additive both ways, so a
 * run pruned before its increment is folded in nets to zero once it is. In (worker, hour) order, so concurrent
 * writers lock rows in the same order. Meant as a CTE body.
 */
export function bookWorkerHours(source: string, sign: 1 | -1): string {
  return `insert into worker_hour_statistics (worker_id, hour, runs, failures, busy_ms)
       select worker_id, ${workerHour('completed_at')}, ${sign} * count(*),
         ${sign} * count(*) filter (where result in ('failure', 'error')), ${sign} * coalesce(sum(busy_ms), 0)
       from ${source} where worker_id is not null
       group by 1, 2 order by 1, 2
       on conflict (worker_id, hour) do update set
         runs = worker_hour_statistics.runs + excluded.runs,
         failures = worker_hour_statistics.failures + excluded.failures,
         busy_ms = worker_hour_statistics.busy_ms + excluded.busy_ms`;
}
