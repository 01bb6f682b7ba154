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

/**
 * Runs shorter than this say nothing of the cores a task keeps busy: cpu_time / duration of a 20 ms shell task is
 * mostly start-up, and on a loaded machine it measured more cores than the worker has.
 */
export const MIN_CPU_SAMPLE_MS = 1000;

/**
 * Cores a task_history run kept busy: cpu_time / duration, at most the cores its machine had (the run's reported
 * cpu_count, else its worker's; least() ignores a null cap). `alias`: the task_history alias with its dot, if any.
 */
export function coresBusy(alias = ''): string {
  return `least(${alias}cpu_time_ms::float8 / nullif(${alias}duration_ms, 0), coalesce(${alias}cpu_count, ${alias}worker_cpu_count))`;
}

/** What a cpu requirement is learned from: null for a run too short to tell (percentile_cont leaves nulls out). */
const CORES_BUSY_LEARNED = `case when duration_ms >= ${MIN_CPU_SAMPLE_MS} then ${coresBusy()} end`;

/**
 * The aggregates of a SuccessProfile over a set of task_history rows. No bind placeholders here: this text is also
 * spliced into the create path's named statement (createWorkRequests.ts), which numbers its parameters $1..$4 on
 * a plain pg connection, so a `?` there is a syntax error and every create answers 500.
 */
export const SUCCESS_PROFILE_COLUMNS = `count(*) as runs,
         count(memory) as memory_runs, percentile_cont(0.95) within group (order by memory) as memory_p95,
         count(disk_space) as disk_runs, percentile_cont(0.95) within group (order by disk_space) as disk_p95,
         count(duration_ms) as duration_runs, percentile_cont(0.95) within group (order by duration_ms) as duration_p95_ms,
         percentile_cont(0.95) within group (order by ${CORES_BUSY_LEARNED}) as cores_p95,
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
