import { z } from 'zod';
import { outputDataSchema } from './outputData';
import { executionSchema, requiredFilesShape, resourceRequirementsSchema, taskSpecSchema, userMetadataSchema } from './taskSpec';

export const WORK_REQUEST_STATUSES = ['blocked', 'pending', 'running', 'completed', 'aborted'] as const;
export const workRequestStatusSchema = z.enum(WORK_REQUEST_STATUSES);
export type WorkRequestStatus = z.infer<typeof workRequestStatusSchema>;

export const WORK_REQUEST_RESULTS = ['success', 'failure', 'error', 'skipped'] as const;
export const workRequestResultSchema = z.enum(WORK_REQUEST_RESULTS);
export type WorkRequestResult = z.infer<typeof workRequestResultSchema>;

/** A requirement the scheduler derived from history, with the words that explain it. */
export const learnedRequirementSchema = z.object({
  resource: z.enum(['memory', 'disk', 'cpu', 'gpu', 'time']),
  value: z.number(),
  reason: z.string(),
});
export type LearnedRequirement = z.infer<typeof learnedRequirementSchema>;

const isoTime = z.string();

/** A workflow's id: chosen by the caller, or generated as `<uuid4>.<unix seconds>`. */
export const workflowIdSchema = z.string().regex(/^[A-Za-z0-9._:-]{1,200}$/, 'use 1 to 200 letters, digits and . _ : -');
/** A task's id, unique in its workflow. */
export const taskIdSchema = z.string().regex(/^[A-Za-z0-9._:/-]{1,200}$/, 'use 1 to 200 letters, digits and . _ : / -');

/** A work request as the API returns it. */
export const workRequestSchema = z.object({
  id: z.number().int(),
  task_name: z.string(),
  subject: z.string().nullable(),
  context: z.string().nullable(),
  status: workRequestStatusSchema,
  result: workRequestResultSchema.nullable(),
  state_reason: z.string().nullable(),
  priority: z.number().int(),
  priority_adjustment: z.number().int(),
  task_data: z.object({ execution: executionSchema, use_history: z.boolean(), ...requiredFilesShape }),
  requirements: resourceRequirementsSchema,
  learned_requirements: z.array(learnedRequirementSchema),
  worker: z.object({ id: z.number().int(), name: z.string() }).nullable(),
  attempt: z.number().int(),
  max_attempts: z.number().int(),
  supersedes: z.number().int().nullable(),
  superseded_by: z.number().int().nullable(),
  /** Set on a workflow's tasks: its workflow and its task_id there. */
  workflow_id: z.string().nullable(),
  task_id: z.string().nullable(),
  /** Its worker's cost_per_hour × the measured duration, once the attempt has ended (null without a price). */
  cost: z.number().nullable(),
  /** A retry waits out its back-off: it is not claimed before this time. */
  not_before: isoTime.nullable(),
  time_limit_s: z.number().int().nullable(),
  interrupt_allowed: z.boolean(),
  user_metadata: userMetadataSchema,
  /** The schedule whose firing created this request (its name), or null. */
  schedule: z.string().nullable(),
  output_data: outputDataSchema.nullable(),
  created_at: isoTime,
  started_at: isoTime.nullable(),
  completed_at: isoTime.nullable(),
  /**
   * When it is expected to start and finish, from the learned durations of the requests ahead of it in claim
   * order on the workers that can run it (a housekeeping pass refreshes it; for a running request, only the end
   * moves). Null with `eta_reason` saying why when there is nothing to go on.
   */
  expected_start_at: isoTime.nullable(),
  expected_end_at: isoTime.nullable(),
  eta_reason: z.string().nullable(),
});
export type WorkRequest = z.infer<typeof workRequestSchema>;

const commaList = <T extends z.ZodType<unknown, string>>(item: T) =>
  z
    .string()
    .transform((value) => value.split(',').map((part) => part.trim()).filter((part) => part.length > 0))
    .pipe(z.array(item).min(1));

/** Query string of GET /api/v1/work-requests. */
export const listWorkRequestsQuerySchema = z
  .object({
    status: commaList(workRequestStatusSchema).optional(),
    result: commaList(workRequestResultSchema).optional(),
    task_name: z.string().min(1).optional(),
    subject: z.string().min(1).optional(),
    context: z.string().min(1).optional(),
    worker: z.string().min(1).optional(),
    /** A workflow's workflow_id: its tasks' requests (every attempt). */
    workflow: workflowIdSchema.optional(),
    schedule: z.string().min(1).max(200).optional(),
    unschedulable: z
      .enum(['true', 'false'])
      .transform((value) => value === 'true')
      .optional()
      .describe('true: only pending requests no enabled worker can run (state_reason says why); false: the others'),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: z.string().min(1).optional(),
  })
  .strict();
export type ListWorkRequestsQuery = z.infer<typeof listWorkRequestsQuerySchema>;

export const workRequestListSchema = z.object({
  work_requests: z.array(workRequestSchema),
  /** Pass as `cursor` to get the next page; null on the last page. */
  next_cursor: z.string().nullable(),
});
export type WorkRequestList = z.infer<typeof workRequestListSchema>;

export const LOG_STREAMS = ['stdout', 'stderr', 'system'] as const;
export const logEntrySchema = z
  .object({
    seq: z.number().int().nonnegative().max(2_147_483_647),
    ts: z.iso.datetime({ offset: true }),
    stream: z.enum(LOG_STREAMS),
    // Task output may hold NUL bytes (find -print0), which PostgreSQL text cannot: store them as U+FFFD.
    // overwrite, not transform: the text stays a string, and the API description says so.
    text: z.string().max(1024 * 1024).overwrite((text) => (text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text)),
  })
  .strict();
export type LogEntry = z.infer<typeof logEntrySchema>;

/**
 * Query string of GET /api/v1/work-requests/:id. With `wait_s` the answer long-polls: it comes once the status
 * differs from `while_status` (default: once the request has ended), or when `wait_s` has passed.
 */
export const getWorkRequestQuerySchema = z
  .object({
    wait_s: z.coerce.number().min(0).max(60).optional(),
    while_status: workRequestStatusSchema.optional(),
  })
  .strict();
export type GetWorkRequestQuery = z.infer<typeof getWorkRequestQuerySchema>;

export const logEntriesQuerySchema = z
  .object({
    follow: z.enum(['true', 'false', '1', '0']).transform((value) => value === 'true' || value === '1').optional(),
    after_seq: z.coerce.number().int().min(-1).max(2_147_483_647).optional(),
    limit: z.coerce.number().int().min(1).max(100_000).optional(),
  })
  .strict();

export const logEntriesResponseSchema = z.object({ entries: z.array(logEntrySchema), truncated: z.boolean() });


/** Body of POST /api/v1/work-requests/:id/priority (operators): added to the spec's priority for claim order. */
export const priorityAdjustmentRequestSchema = z.object({ priority_adjustment: z.number().int().min(-10_000).max(10_000) }).strict();

/** How many task specs one POST /api/v1/work-requests/batch may carry. */
export const MAX_BATCH_CREATE = 10_000;

/** Body of POST /api/v1/work-requests/batch: all are created, in this order, or none. */
export const createWorkRequestsRequestSchema = z
  .object({ work_requests: z.array(taskSpecSchema).min(1).max(MAX_BATCH_CREATE) })
  .strict();
export type CreateWorkRequestsRequest = z.input<typeof createWorkRequestsRequestSchema>;

/** The created work requests, in the order of the specs. */
export const createWorkRequestsResponseSchema = z.object({ work_requests: z.array(workRequestSchema) });
