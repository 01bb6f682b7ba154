import { z } from 'zod';
import { recentRunSchema, statisticsWindowSchema } from './statistics';
import { taskNameSchema } from './taskSpec';
import { learnedRequirementSchema } from './workRequest';

/*
 * Series for charts (the dashboard's overview and task pages; operator role): completions and queue wait over
 * time, and one history key's recent runs with the percentiles and learned requirements they lead to.
 */

/** Widest timeline chart: more buckets than this is a 400 (choose a larger bucket). */
export const MAX_TIMELINE_BUCKETS = 1440;

/** The bucket a window gets when none is asked for: 1 minute up to 6 h, then 5 minutes, 1 h over 5 days. */
export function defaultTimelineBucketS(windowS: number): number {
  if (windowS <= 6 * 3600) return 60;
  if (windowS <= 5 * 86_400) return 300;
  return 3600;
}

/** Query string of GET /api/v1/statistics/timeline. */
export const timelineQuerySchema = z
  .object({
    window: statisticsWindowSchema.default(3600).describe('the last this-long: seconds, or e.g. "1h", "24h"; default 1h, at most 90 days'),
    bucket: statisticsWindowSchema
      .optional()
      .describe('bucket width (seconds or e.g. "5m", at least 10 s); default 1m up to a 6h window, 5m up to 5d, 1h beyond'),
  })
  .strict()
  .transform((query, ctx) => {
    const bucketS = query.bucket ?? defaultTimelineBucketS(query.window);
    if (bucketS < 10) ctx.addIssue({ code: 'custom', path: ['bucket'], message: `at least 10 s, got ${bucketS} s` });
    else if (Math.ceil(query.window / bucketS) > MAX_TIMELINE_BUCKETS) {
      ctx.addIssue({ code: 'custom', path: ['bucket'], message: `at most ${MAX_TIMELINE_BUCKETS} buckets: ${query.window} s / ${bucketS} s is ${Math.ceil(query.window / bucketS)}` });
    }
    return { windowS: query.window, bucketS };
  });
export type TimelineQuery = z.output<typeof timelineQuerySchema>;

const count = z.number().int().nonnegative();
const seconds = z.number().nullable();

export const timelineBucketSchema = z.object({
  start: z.string().describe('ISO 8601 start of the bucket (buckets are aligned to multiples of bucket_s since the epoch)'),
  completed: z
    .object({ success: count, failure: count, error: count, skipped: count, aborted: count })
    .describe('requests that ended in the bucket (completed_at), by result; aborted: cancelled or otherwise aborted'),
  queue_wait_s: z
    .object({ count, p50: seconds, p95: seconds, max: seconds })
    .describe('created_at → started_at of the requests that started in the bucket (running ones included), seconds; percentile_cont'),
});
export type TimelineBucket = z.infer<typeof timelineBucketSchema>;

export const timelineSchema = z.object({
  window_s: z.number().int(),
  bucket_s: z.number().int(),
  since: z.string(),
  until: z.string(),
  /** Every bucket from `since` to `until`, oldest first, empty ones included. */
  buckets: z.array(timelineBucketSchema),
});
export type Timeline = z.infer<typeof timelineSchema>;

export const MAX_TASK_RUNS = 1000;

/** Query string of GET /api/v1/statistics/runs. */
export const taskRunsQuerySchema = z
  .object({
    task_name: taskNameSchema,
    subject: z.string().max(500).optional().describe('exact subject (empty: none); omitted: every subject'),
    context: z.string().max(500).optional().describe('exact context (empty: none); omitted: every context'),
    limit: z.coerce.number().int().min(1).max(MAX_TASK_RUNS).default(200),
  })
  .strict();
export type TaskRunsQuery = z.infer<typeof taskRunsQuerySchema>;

const percentiles = z.object({ p50: z.number().nullable(), p95: z.number().nullable() });

export const taskRunsSchema = z.object({
  task_name: z.string(),
  /** The filter as given; null: every subject (context). */
  subject: z.string().nullable(),
  context: z.string().nullable(),
  /** The newest retained history rows matching the filter, newest first (at most `limit`). */
  runs: z.array(recentRunSchema),
  /** Over every retained successful run matching the filter (not only those listed); percentile_cont. */
  success_percentiles: z.object({
    sampled_runs: count,
    duration_s: percentiles,
    cpu_time_s: percentiles,
    memory: percentiles.describe('bytes, rounded'),
    disk_space: percentiles.describe('bytes, rounded'),
  }),
  /** What the scheduler would learn now for a new request of this key (subject/context omitted read as none). */
  learned_requirements: z.array(learnedRequirementSchema),
});
export type TaskRuns = z.infer<typeof taskRunsSchema>;
