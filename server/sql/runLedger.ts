import type { SqlStatement } from './statement';

/**
 * A run's budget in SQL over its workflow row `f`: the limit X of "X/h" or "X/min", its window and the ledger's
 * bucket (1/60 of the window), in seconds.
 */
export const budgetLimit = (f: string) => `split_part(${f}.budget, '/', 1)::float8`;
export const budgetWindowS = (f: string) => `(case when ${f}.budget like '%/min' then 60 else 3600 end)`;
export const bucketS = (f: string) => `(case when ${f}.budget like '%/min' then 1 else 60 end)`;

/**
 * A run's spend over its trailing window, with `f` its workflow row: the ledger's buckets that overlap the window
 * (at most 61 rows), plus each running attempt at the greater of what it has cost so far in the window and what
 * its claim reserved (expected_cost), so attempts claimed a moment ago already count in full (one index range:
 * the run's running requests). Never a sum over the run's history.
 */
export function runSpendSql(f: string): string {
  return `(coalesce((select sum(s.cost) from workflow_spend s
       where s.workflow_id = ${f}.workflow_id and s.bucket_start > now() - make_interval(secs => ${budgetWindowS(f)} + ${bucketS(f)})), 0)
     + coalesce((select sum(greatest(coalesce(x.expected_cost, 0),
           coalesce(k.cost_per_hour, 0) * extract(epoch from now() - greatest(x.started_at, now() - make_interval(secs => ${budgetWindowS(f)}))) / 3600))
       from work_request x join worker k on k.id = x.worker_id
       where x.workflow_id = ${f}.workflow_id and x.status = 'running'), 0))`;
}

/** The duration its key's runs took on average (ms; 0 without history): the expected length of request `r`. */
export function expectedDurationMsSql(r: string): string {
  return `coalesce((select tk.duration_ms_sum::float8 / nullif(tk.timed_runs, 0) from task_key tk
       where tk.task_name = ${r}.task_name and tk.subject = coalesce(${r}.subject, '') and tk.context = coalesce(${r}.context, '')), 0)`;
}

/** Results an attempt of work_request `r` counts: output_data.result_count (or its result's), else 1 for a success. */
const RESULTS = `greatest(0, coalesce(
       case when jsonb_typeof(r.output_data -> 'result_count') = 'number' then floor((r.output_data ->> 'result_count')::numeric) end,
       case when jsonb_typeof(r.output_data #> '{result,result_count}') = 'number' then floor((r.output_data #>> '{result,result_count}')::numeric) end,
       case when r.result = 'success' then 1 else 0 end))`;

/** The duration the worker measured, in ms (its full-precision figure, else the integer seconds). */
const DURATION_MS = `coalesce((r.output_data #>> '{runtime_statistics,duration_ms}')::numeric,
       (r.output_data #>> '{runtime_statistics,duration}')::numeric * 1000, 0)`;

/**
 * Books just-completed attempts of runs (`ids`; others are ignored) in the run ledgers: each (run, worker) row's
 * tasks, successes, results, cost and work time, and the run's spend bucket of this moment. Inside the
 * completion's transaction, which holds the workflow's lock: no two bookings of a run race. Answers the
 * (run, worker) rows as they now are, with the run's max cost per result and warm-up.
 */
export function bookRunCostsStatement(ids: number[]): SqlStatement {
  return {
    text: `with ${bookRunCostsCtes('work_request', `r.id = any(array[?]::bigint[]) and r.status in ('completed', 'aborted')`)}
     select b.workflow_id, b.worker_id, b.results, b.cost, b.work_ms, b.stop_reason, f.max_cost_per_result, f.max_price_warmup_s,
       (select count(*) from spent) as buckets
     from booked b join workflow f on f.workflow_id = b.workflow_id`,
    values: [ids],
  };
}

/**
 * bookRunCostsStatement's CTEs (`costed`, `booked`: the (run, worker) rows as they now are, `spent`) over the
 * completed attempts of relation `source` (a table, or a CTE with work_request's columns as they now are) that
 * `where` (over it as `r`) selects.
 */
export function bookRunCostsCtes(source: string, where: string): string {
  return `costed as (
       select r.workflow_id, r.worker_id, coalesce(r.cost, 0) as cost, ${DURATION_MS} as duration_ms, ${RESULTS} as results,
         -- A cancelled attempt has no result (null): not a success.
         (r.result is not distinct from 'success')::int as success,
         to_timestamp(floor(extract(epoch from now()) / ${bucketS('f')}) * ${bucketS('f')}) as bucket_start
       from ${source} r join workflow f on f.workflow_id = r.workflow_id
       where ${where} and r.worker_id is not null
     ), booked as (
       insert into workflow_worker as ww (workflow_id, worker_id, tasks, successes, results, cost, work_ms)
       select workflow_id, worker_id, count(*), sum(success), sum(results), sum(cost), round(sum(duration_ms)) from costed group by workflow_id, worker_id
       on conflict (workflow_id, worker_id) do update set
         tasks = ww.tasks + excluded.tasks, successes = ww.successes + excluded.successes, results = ww.results + excluded.results,
         cost = ww.cost + excluded.cost, work_ms = ww.work_ms + excluded.work_ms
       returning ww.*
     ), spent as (
       insert into workflow_spend as s (workflow_id, bucket_start, cost)
       select workflow_id, bucket_start, sum(cost) from costed where cost > 0 group by workflow_id, bucket_start
       on conflict (workflow_id, bucket_start) do update set cost = s.cost + excluded.cost
       returning 1
     )`;
}
