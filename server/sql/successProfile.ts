import type { HistoryLevel } from '../history/historyKey';
import type { SqlStatement } from './statement';

/** One row: what the newest `sampleRuns` successful runs of a key level measured (learnRequirements). */
export interface SuccessProfile {
  runs: string;
  memory_runs: string;
  memory_p95: number | null;
  disk_runs: string;
  disk_p95: number | null;
  duration_runs: string;
  duration_p95_ms: number | null;
  cores_p95: number | null;
  min_available_memory: string | null;
}

/** The aggregates of a SuccessProfile over a set of task_history rows. */
export const SUCCESS_PROFILE_COLUMNS = `count(*) as runs,
         count(memory) as memory_runs, percentile_cont(0.95) within group (order by memory) as memory_p95,
         count(disk_space) as disk_runs, percentile_cont(0.95) within group (order by disk_space) as disk_p95,
         count(duration_ms) as duration_runs, percentile_cont(0.95) within group (order by duration_ms) as duration_p95_ms,
         percentile_cont(0.95) within group (order by cpu_time_ms::float8 / nullif(duration_ms, 0)) as cores_p95,
         min(available_memory) as min_available_memory`;

/**
 * Percentiles (PostgreSQL's percentile_cont: linear interpolation) over the newest `sampleRuns` successful runs
 * of one key level, so the cost does not grow with the history between two retention passes.
 */
export function successProfileQuery(level: HistoryLevel, sampleRuns: number): SqlStatement {
  return {
    text: `select ${SUCCESS_PROFILE_COLUMNS}
       from (
         select * from task_history where ${level.where} and result = 'success' order by completed_at desc limit ?
       ) recent`,
    values: [...level.params, sampleRuns],
  };
}
