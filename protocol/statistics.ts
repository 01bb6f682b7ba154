import { z } from 'zod';
import { taskNameSchema } from './taskSpec';
import { parseDurationSeconds } from './units';
import { WORKER_STATES } from './workerApi';
import { WORK_REQUEST_RESULTS, WORK_REQUEST_STATUSES, workRequestResultSchema } from './workRequest';

/*
 * GET /api/v1/statistics/... (operator role): aggregates of the task history.
 *
 * Counters (runs, successes, failures, last_*_at) are all-time: they are kept per history key and survive
 * history retention. Percentiles are PostgreSQL's percentile_cont (linear interpolation between the closest
 * ranks) over the *retained* history rows of *successful* runs only (a failed run's figures say little about
 * what the task needs). A key with no measured successful run has null percentiles.
 */

export const PERCENTILE_NOTE = 'over the retained history of successful runs; percentile_cont (linear interpolation)';

export const TASK_STATISTICS_SORTS = ['task_name', '-runs', 'runs', '-failures', '-success_rate', 'success_rate', '-last_run_at', '-memory_waste', '-cpu_waste'] as const;
export const taskStatisticsSortSchema = z
  .enum(TASK_STATISTICS_SORTS)
  .describe('task_name (then subject, context) ascending; a leading "-" sorts descending; -memory_waste / -cpu_waste: keys wasting the most first (see efficiency), keys without explicit requests last');
export type TaskStatisticsSort = z.infer<typeof taskStatisticsSortSchema>;

/** A history-key filter value; the empty string selects keys without a subject (or context). */
const keyFilterSchema = z.string().max(500);

/** Query string of GET /api/v1/statistics/tasks. */
export const taskStatisticsQuerySchema = z
  .object({
    task_name: z.string().min(1).max(255).optional().describe('exact task name'),
    task_name_prefix: z.string().min(1).max(255).optional().describe('task names starting with this'),
    subject: keyFilterSchema.optional().describe('exact subject; empty selects keys without a subject'),
    context: keyFilterSchema.optional().describe('exact context; empty selects keys without a context'),
    min_runs: z.coerce.number().int().min(0).max(2 ** 31 - 1).optional().describe('keys with at least this many runs (all-time)'),
    sort: taskStatisticsSortSchema.default('task_name'),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: z
      .string()
      .min(1)
      .max(4000)
      .optional()
      .describe('next_cursor of the previous page; only valid with the same sort and filters (keyset pagination)'),
  })
  .strict();
export type TaskStatisticsQuery = z.infer<typeof taskStatisticsQuerySchema>;
/** What a client may pass (every field optional; the server fills the defaults). */
export type TaskStatisticsFilter = Partial<TaskStatisticsQuery>;

const seconds = z.number().nullable();
const bytes = z.number().int().nullable();
const isoTime = z.string().nullable();

/**
 * Slurm's `seff` for a key whose requests name `memory` / `cpu` explicitly: over its retained successful runs
 * that did, what they used (p95) against what the newest of them asked, and what to ask instead. Refreshed by
 * housekeeping (`computed_at`).
 */
export const taskEfficiencySchema = z.object({
  runs: z.number().int().describe('retained successful runs whose request named memory or cpu: what the figures are computed over'),
  memory: z
    .object({
      asked: z.number().int().describe('bytes, as the newest such run asked'),
      used_p95: z.number().int().describe('p95 of the peak memory, bytes'),
      ratio: z.number().describe('used_p95 / asked'),
      suggested: z.number().int().describe('bytes: used_p95 × the learned-requirement headroom, rounded up to a MiB'),
      waste_gib_hours: z.number().describe('(asked − used_p95) × all-time runs × mean duration'),
    })
    .nullable(),
  cpu: z
    .object({
      asked: z.number().int(),
      used_p95: z.number().describe('p95 of cores kept busy (cpu_time / duration)'),
      ratio: z.number().describe('used_p95 / asked'),
      suggested: z.number().int().describe('used_p95 rounded up (at least 1)'),
      waste_core_hours: z.number().describe('(asked − used_p95) × all-time runs × mean duration'),
    })
    .nullable(),
  computed_at: z.string(),
});
export type TaskEfficiency = z.infer<typeof taskEfficiencySchema>;

/** One history key: all-time counters and percentiles over its retained successful runs. */
export const taskStatisticsSchema = z.object({
  task_name: z.string(),
  subject: z.string().nullable(),
  context: z.string().nullable(),
  runs: z.number().int().describe('finished attempts, all-time (every result, skipped included)'),
  successes: z.number().int(),
  failures: z.number().int().describe('results failure or error'),
  success_rate: z.number().nullable().describe('successes / runs, 0..1'),
  sampled_runs: z.number().int().describe(`successful runs in the retained history: what the percentiles are computed over`),
  cost: z.number().describe("all-time cost of its runs: each worker's cost_per_hour × the run's duration"),
  duration: z.object({ p50: seconds, p95: seconds, max: seconds }).describe(`seconds (float), ${PERCENTILE_NOTE}`),
  cpu_time: z.object({ p50: seconds, p95: seconds }).describe(`seconds (float), ${PERCENTILE_NOTE}`),
  memory: z.object({ p50: bytes, p95: bytes, max: bytes }).describe(`peak bytes, rounded to whole bytes, ${PERCENTILE_NOTE}`),
  disk_space: z.object({ p95: bytes, max: bytes }).describe(`peak bytes, rounded to whole bytes, ${PERCENTILE_NOTE}`),
  last_success_at: isoTime,
  last_failure_at: isoTime,
  last_run_at: isoTime,
  /** Null when no retained successful run named memory or cpu (or housekeeping has not looked at the key yet). */
  efficiency: taskEfficiencySchema.nullable(),
});
export type TaskStatistics = z.infer<typeof taskStatisticsSchema>;

export const taskStatisticsListSchema = z.object({
  tasks: z.array(taskStatisticsSchema),
  /** Pass as `cursor` (with the same sort and filters) for the next page; null on the last page. */
  next_cursor: z.string().nullable(),
});
export type TaskStatisticsList = z.infer<typeof taskStatisticsListSchema>;

/** Query string of GET /api/v1/statistics/tasks/:task_name. */
export const taskStatisticsDetailQuerySchema = z
  .object({ limit: z.coerce.number().int().min(1).max(500).default(100).describe('at most this many subject/context keys') })
  .strict();

/** The task name in the path of GET /api/v1/statistics/tasks/:task_name. */
export const taskStatisticsPathSchema = z.object({ task_name: taskNameSchema }).strict();

/** One finished attempt, newest first. */
export const recentRunSchema = z.object({
  work_request_id: z.number().int().nullable(),
  subject: z.string().nullable(),
  context: z.string().nullable(),
  attempt: z.number().int(),
  result: workRequestResultSchema,
  error_code: z.string().nullable(),
  worker_name: z.string().nullable(),
  duration_s: seconds,
  cpu_time_s: seconds,
  memory: bytes,
  disk_space: bytes,
  completed_at: z.string(),
});
export type RecentRun = z.infer<typeof recentRunSchema>;

export const taskStatisticsDetailSchema = z.object({
  task_name: z.string(),
  /** The task across all its subjects and contexts (subject and context are null here). */
  total: taskStatisticsSchema,
  /** One row per subject/context, ordered by subject then context. */
  keys: z.array(taskStatisticsSchema),
  /** True when the task has more keys than `limit`: page through them with GET /statistics/tasks?task_name=. */
  keys_truncated: z.boolean(),
  /** The newest 20 retained history rows of the task. */
  recent_runs: z.array(recentRunSchema),
});
export type TaskStatisticsDetail = z.infer<typeof taskStatisticsDetailSchema>;

export const MAX_STATISTICS_WINDOW_S = 90 * 86_400;

/** A window: seconds, or "90s" / "15m" / "2h" / "7d"; at most 90 days. */
export const statisticsWindowSchema = z.string().transform((value, ctx) => {
  const windowS = parseDurationSeconds(value);
  if (windowS === null || windowS <= 0) {
    ctx.addIssue({ code: 'custom', message: `not a positive duration: ${JSON.stringify(value)} (use seconds or e.g. "90s", "15m", "2h", "7d")` });
    return z.NEVER;
  }
  if (windowS > MAX_STATISTICS_WINDOW_S) {
    ctx.addIssue({ code: 'custom', message: `at most 90 days (${MAX_STATISTICS_WINDOW_S} s), got ${windowS} s` });
    return z.NEVER;
  }
  return windowS;
});

/** Query string of GET /api/v1/statistics/workers. */
export const workerStatisticsQuerySchema = z
  .object({
    window: statisticsWindowSchema
      .default(86_400)
      .describe('the last this-long: seconds, or e.g. "90s", "15m", "2h", "7d"; default 24h, at most 90 days'),
  })
  .strict();
export type WorkerStatisticsQuery = z.infer<typeof workerStatisticsQuerySchema>;

export const workerStatisticsSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  state: z.enum(WORKER_STATES),
  concurrency: z.number().int(),
  runs: z.number().int().describe('runs completed in the window (every result)'),
  failures: z.number().int().describe('of which failure or error'),
  busy_time_s: z.number().describe('sum of the durations of the runs completed in the window (duration_ms, else completed - started)'),
  utilisation: z.number().describe('busy_time_s / (window_s × concurrency); may exceed 1 when runs started before the window'),
});
export type WorkerStatistics = z.infer<typeof workerStatisticsSchema>;

export const workerStatisticsListSchema = z.object({
  window_s: z.number().int(),
  since: z.string(),
  until: z.string(),
  /** Every registered worker, by name, including those without runs in the window. */
  workers: z.array(workerStatisticsSchema),
});
export type WorkerStatisticsList = z.infer<typeof workerStatisticsListSchema>;

const count = z.number().int().nonnegative();

export const statisticsSummarySchema = z.object({
  work_requests: z.object({
    total: count,
    by_status: z.record(z.enum(WORK_REQUEST_STATUSES), count),
    by_result: z.record(z.enum(WORK_REQUEST_RESULTS), count),
    /** Pending requests that no enabled worker can run (work_request.unschedulable_reason is set). */
    unschedulable: count,
  }),
  workers: z.object({ total: count, by_state: z.record(z.enum(WORKER_STATES), count) }),
  /** Throughput: requests that ended (completed or aborted) in the last hour. */
  last_hour: z.object({
    ended: count,
    by_result: z.record(z.enum(WORK_REQUEST_RESULTS), count),
    aborted: count,
    /** ended / 60. */
    per_minute: z.number().nonnegative(),
  }),
});
export type StatisticsSummary = z.infer<typeof statisticsSummarySchema>;
