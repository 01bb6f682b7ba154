import type { EntityManager } from '@mikro-orm/postgresql';
import type { WorkerStatisticsList } from '../../protocol/statistics';
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

/**
 * GET /statistics/workers: every registered worker with what it ran in the last `windowS` seconds — runs,
 * failures (failure or error), busy time (the durations of the runs completed in the window; a run without a
 * measured duration counts completed − started) and utilisation = busy time / (window × concurrency). A run
 * counts whole if it completed in the window, so utilisation can exceed 1 for long runs and short windows.
 * The window ends at the database's now(); each worker's rows are read through task_history_worker_figures_idx
 * (worker_id, completed_at), so the cost is the rows in the window, not the history.
 */
export async function computeWorkerStatistics(em: EntityManager, windowS: number): Promise<WorkerStatisticsList> {
  const workers = await listWorkers(em);
  // One row per worker (one with a null worker when there is none), each with the window's bounds.
  const rows = await em.execute<WorkerRunsRow[]>(
    `with bounds as (select now() - make_interval(secs => ?) as since, now() as until)
     select b.since, b.until, w.id as worker_id, s.runs, s.failures, s.busy_ms
     from bounds b
     left join worker w on true
     left join lateral (
       select count(*) as runs,
         count(*) filter (where h.result in ('failure', 'error')) as failures,
         coalesce(sum(coalesce(h.duration_ms::float8, extract(epoch from h.completed_at - h.started_at)::float8 * 1000)), 0) as busy_ms
       from task_history h
       where h.worker_id = w.id and h.completed_at > b.since
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
