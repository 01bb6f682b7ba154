import type { EntityManager } from '@mikro-orm/postgresql';
import { bookWorkerHours } from '../sql/workerHours';

/**
 * Folds the pending task_key_increment rows into task_key's counters and their workers' hours
 * (worker_hour_statistics), in one statement (the DELETE … RETURNING
 * takes each row exactly once, even with concurrent roll-ups). Runs in housekeeping and before every read of the
 * counters, so readers always see every committed run. Returns the number of runs counted.
 */
export async function rollUpTaskKeyCounters(em: EntityManager): Promise<number> {
  const rows = await em.execute<{ counted: string | null }[]>(
    `with moved as (
       delete from task_key_increment returning id, task_name, subject, context, result, completed_at, cost, duration_ms, worker_id, busy_ms
     ), grouped as (
       select task_name, subject, context,
         count(*) as runs,
         count(*) filter (where result = 'success') as successes,
         count(*) filter (where result in ('failure', 'error')) as failures,
         max(completed_at) as last_run_at,
         max(completed_at) filter (where result = 'success') as last_success_at,
         max(completed_at) filter (where result in ('failure', 'error')) as last_failure_at,
         coalesce(sum(cost), 0) as cost,
         count(duration_ms) as timed_runs,
         coalesce(sum(duration_ms), 0) as duration_ms_sum,
         min(id) as first_id
       from moved group by task_name, subject, context
     ), upserted as (
       insert into task_key (task_name, subject, context, runs, successes, failures, last_run_at, last_success_at, last_failure_at, cost, timed_runs, duration_ms_sum)
       -- In order of each key's first run, so new keys' ids (the statistics' tie-breaker) follow it.
       select task_name, subject, context, runs, successes, failures, last_run_at, last_success_at, last_failure_at, cost, timed_runs, duration_ms_sum
       from grouped order by first_id
       on conflict (task_name, subject, context) do update set
         runs = task_key.runs + excluded.runs,
         successes = task_key.successes + excluded.successes,
         failures = task_key.failures + excluded.failures,
         last_run_at = greatest(task_key.last_run_at, excluded.last_run_at),
         last_success_at = greatest(task_key.last_success_at, excluded.last_success_at),
         last_failure_at = greatest(task_key.last_failure_at, excluded.last_failure_at),
         cost = task_key.cost + excluded.cost,
         timed_runs = task_key.timed_runs + excluded.timed_runs,
         duration_ms_sum = task_key.duration_ms_sum + excluded.duration_ms_sum,
         -- New successful runs change the key's percentiles: the cached ones are stale.
         figures_version = task_key.figures_version + (excluded.successes > 0)::int
       returning 1
     ), hours as (
       ${bookWorkerHours('moved', 1)}
     )
     select (select sum(runs) from grouped) as counted`,
  );
  return Number(rows[0]?.counted ?? 0);
}
