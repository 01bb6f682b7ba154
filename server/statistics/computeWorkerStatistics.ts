import type { EntityManager } from '@mikro-orm/postgresql';
import type { WorkerStatisticsList } from '../../protocol/statistics';
import { rollUpTaskKeyCounters } from '../history/rollUpTaskKeyCounters';
import { busyMs } from '../sql/taskHistory';
import { workerHour } from '../sql/workerHours';
import { listWorkers } from '../workers/listWorkers';
import { workerState } from '../workers/serializeWorker';

interface WorkerRunsRow {
  since: Date | string;
  until: Date | string;
  worker_id: string | null;
  runs: string | null;
  failures: string | null;
  busy_ms: number | string | null;
}

/** Runs, failures and busy time of worker `w` in task_history rows whose completed_at satisfies `range` (over `h`). */
const rawFigures = (range: string): string =>
  `select count(*) as runs, count(*) filter (where h.result in ('failure', 'error')) as failures, coalesce(sum(${busyMs('h.')}), 0) as busy_ms
   from task_history h where h.worker_id = w.id and ${range}`;

/**
 * GET /statistics/workers: every registered worker with what it ran in the last `windowS` seconds — runs,
 * failures (failure or error), busy time (the durations of the runs completed in the window; a run without a
 * measured duration counts completed − started) and utilisation = busy time / (window × concurrency). A run
 * counts whole if it completed in the window, so utilisation can exceed 1 for long runs and short windows.
 * The window ends at the database's now(). Its whole UTC hours [lo, hi) are read from worker_hour_statistics
 * (rolled up first, so every committed run is in it), the partial hours at its edges from task_history through
 * task_history_worker_figures_idx (worker_id, completed_at): the cost is the window's hours plus two hours of rows.
 */
export async function computeWorkerStatistics(em: EntityManager, windowS: number): Promise<WorkerStatisticsList> {
  await rollUpTaskKeyCounters(em);
  const workers = await listWorkers(em);
  // One row per worker (one with a null worker when there is none), each with the window's bounds. A window
  // inside one hour has hi = lo: no whole hour, its rows all read raw.
  const rows = await em.execute<WorkerRunsRow[]>(
    `with window_ as (
       select now() - make_interval(secs => ?) as since, now() as until
     ), bounds as (
       -- lo is the hour after since's even when since is on the hour: a run completed at since exactly is out.
       select w.since, w.until, e.lo, greatest(e.lo, ${workerHour('w.until')}) as hi
       from window_ w cross join lateral (select ${workerHour('w.since')} + interval '1 hour' as lo) e
     )
     select b.since, b.until, w.id as worker_id, s.runs, s.failures, s.busy_ms
     from bounds b
     left join worker w on true
     left join lateral (
       select sum(p.runs) as runs, sum(p.failures) as failures, sum(p.busy_ms) as busy_ms from (
         ${rawFigures('h.completed_at > b.since and h.completed_at < b.lo')}
         union all
         select coalesce(sum(r.runs), 0), coalesce(sum(r.failures), 0), coalesce(sum(r.busy_ms), 0)
         from worker_hour_statistics r where r.worker_id = w.id and r.hour >= b.lo and r.hour < b.hi
         union all
         -- No upper bound, as a run committed after now() was taken still counts.
         ${rawFigures('h.completed_at >= b.hi and h.completed_at > b.since')}
       ) p
     ) s on true`,
    [windowS],
  );
  const byWorker = new Map(rows.filter((row) => row.worker_id !== null).map((row) => [Number(row.worker_id), row]));
  return {
    window_s: windowS,
    since: new Date(rows[0].since).toISOString(),
    until: new Date(rows[0].until).toISOString(),
    workers: workers.map(({ worker, running }) => {
      const row = byWorker.get(worker.id);
      const busyTimeS = row ? Number(row.busy_ms) / 1000 : 0;
      return {
        id: worker.id,
        name: worker.name,
        state: workerState(worker, running),
        concurrency: worker.concurrency,
        runs: row ? Number(row.runs) : 0,
        failures: row ? Number(row.failures) : 0,
        busy_time_s: busyTimeS,
        utilisation: busyTimeS / (windowS * Math.max(1, worker.concurrency)),
      };
    }),
  };
}
