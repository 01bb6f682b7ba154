import { z } from 'zod';
import { outputDataSchema } from './outputData';
import { taskSpecSchema, userMetadataSchema } from './taskSpec';
import { durationSchema } from './units';
import {
  MAX_BATCH_CREATE,
  taskIdSchema,
  WORK_REQUEST_STATUSES,
  workflowIdSchema,
  workRequestResultSchema,
  workRequestSchema,
  workRequestStatusSchema,
} from './workRequest';

/** Ray's workflow statuses (seed 002), upper case. */
export const WORKFLOW_STATUSES = ['PENDING', 'RUNNING', 'SUCCESSFUL', 'FAILED', 'RESUMABLE', 'CANCELED'] as const;
export const workflowStatusSchema = z.enum(WORKFLOW_STATUSES);
export type WorkflowStatus = z.infer<typeof workflowStatusSchema>;

/** PENDING and RUNNING workflows are active: they cannot be deleted. */
export const ACTIVE_WORKFLOW_STATUSES: readonly WorkflowStatus[] = ['PENDING', 'RUNNING'];


/**
 * One task of a workflow: a task spec plus its place in the graph. `task_id` defaults to the task_name
 * (repeated names get _1, _2, … as in Ray); its priority is added to the workflow's.
 */
export const workflowTaskSchema = taskSpecSchema.safeExtend({
  task_id: taskIdSchema.optional(),
  depends_on: z.array(taskIdSchema).max(10_000).default([]),
  /** Dependants run even when this task fails (its input to them is null). */
  allow_failure: z.boolean().default(false),
}).superRefine((task, ctx) => {
  if (task.single_file_task) {
    ctx.addIssue({ code: 'custom', path: ['single_file_task'], message: 'expands only in POST /api/v1/work-requests (a workflow task is one task)' });
  }
});
export type WorkflowTaskInput = z.input<typeof workflowTaskSchema>;
export type WorkflowTask = z.output<typeof workflowTaskSchema>;

const workflowTasksSchema = z.array(workflowTaskSchema).max(MAX_BATCH_CREATE);

/** "10/h", "0.5/min": a run's spend limit over a trailing window (stored; enforced by the runs feature). */
export const budgetSchema = z.string().regex(/^[0-9]+(\.[0-9]+)?\/(h|min)$/, 'use "X/h" or "X/min", e.g. "10/h"');

/** Body of POST /api/v1/workflows. */
export const createWorkflowRequestSchema = z
  .object({
    workflow_id: workflowIdSchema.optional(),
    user_metadata: userMetadataSchema.default({}),
    priority: z.number().int().min(-1000).max(1000).default(0),
    /** Most of its tasks pending or running at once (null: no limit). */
    max_running: z.number().int().min(1).max(1_000_000).nullable().optional(),
    /** Keeps accepting tasks (POST /workflows/:id/tasks) until POST /workflows/:id/close. */
    open: z.boolean().default(false),
    budget: budgetSchema.nullable().optional(),
    on_budget: z.enum(['pause', 'stop']).optional(),
    max_cost_per_result: z.number().positive().nullable().optional(),
    max_price_warmup: durationSchema.optional(),
    tasks: workflowTasksSchema.default([]),
  })
  .strict();
/** A schedule's workflow template: a POST /workflows body whose workflow_id each firing derives. */
export const workflowTemplateSchema = createWorkflowRequestSchema.omit({ workflow_id: true });
export type WorkflowTemplate = z.output<typeof workflowTemplateSchema>;
export type CreateWorkflowRequest = z.input<typeof createWorkflowRequestSchema>;
export type CreateWorkflowParsed = z.output<typeof createWorkflowRequestSchema>;

/** Body of POST /api/v1/workflows/:id/tasks. */
export const addWorkflowTasksRequestSchema = z.object({ tasks: workflowTasksSchema.min(1) }).strict();
export type AddWorkflowTasksRequest = z.input<typeof addWorkflowTasksRequestSchema>;

export const workflowParamsSchema = z.object({ id: workflowIdSchema });

const isoTime = z.string();

/** Ray's stats: start_time when the first task started, end_time when nothing more runs (absent until then). */
export const workflowStatsSchema = z.object({ start_time: isoTime.optional(), end_time: isoTime.optional() });

export const taskCountsSchema = z.object({
  total: z.number().int(),
  ...Object.fromEntries(WORK_REQUEST_STATUSES.map((status) => [status, z.number().int()])) as Record<(typeof WORK_REQUEST_STATUSES)[number], z.ZodNumber>,
});
export type TaskCounts = z.infer<typeof taskCountsSchema>;

/** A workflow as the API returns it. `task_counts` count each task's current attempt by status. */
export const workflowSchema = z.object({
  workflow_id: z.string(),
  status: workflowStatusSchema,
  status_reason: z.string().nullable(),
  open: z.boolean(),
  user_metadata: userMetadataSchema,
  priority: z.number().int(),
  max_running: z.number().int().nullable(),
  budget: z.string().nullable(),
  on_budget: z.enum(['pause', 'stop']),
  max_cost_per_result: z.number().nullable(),
  max_price_warmup: z.number().int(),
  /** What its attempts cost so far (running ones accrue). */
  cost: z.number(),
  /** With a budget: the spend over its trailing window, and why its tasks wait while it is paused. */
  budget_spent: z.number().nullable(),
  budget_reason: z.string().nullable(),
  stats: workflowStatsSchema,
  task_counts: taskCountsSchema,
  created_at: isoTime,
  updated_at: isoTime,
});
export type Workflow = z.infer<typeof workflowSchema>;

/** The answer of POST /work-requests for a `single_file_task` spec: the workflow of its tasks, their ids in file name order. */
export const fileExpansionSchema = workflowSchema.extend({ work_requests: z.array(z.number().int()) });
export type FileExpansion = z.infer<typeof fileExpansionSchema>;

/** One task of a workflow, by its current attempt. */
export const workflowTaskItemSchema = z.object({
  task_id: z.string(),
  work_request_id: z.number().int(),
  status: workRequestStatusSchema,
  result: workRequestResultSchema.nullable(),
  attempt: z.number().int(),
  depends_on: z.array(z.string()),
  worker: z.string().nullable(),
  started_at: isoTime.nullable(),
  completed_at: isoTime.nullable(),
});
export type WorkflowTaskItem = z.infer<typeof workflowTaskItemSchema>;

/** The answer of create and add-tasks (and of GET with ?tasks=true): the workflow and its tasks. */
export const workflowWithTasksSchema = workflowSchema.extend({ tasks: z.array(workflowTaskItemSchema) });
export type WorkflowWithTasks = z.infer<typeof workflowWithTasksSchema>;

const commaList = <T extends z.ZodType<unknown, string>>(item: T) =>
  z
    .string()
    .transform((value) => value.split(',').map((part) => part.trim()).filter((part) => part.length > 0))
    .pipe(z.array(item).min(1));

/** Query of GET /api/v1/workflows: newest first. */
export const listWorkflowsQuerySchema = z
  .object({
    status: commaList(workflowStatusSchema).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: z.string().min(1).optional(),
  })
  .strict();
export type ListWorkflowsQuery = z.infer<typeof listWorkflowsQuerySchema>;

/** A workflow's expected end, from the estimates pass (GET /workflows/:id and the list). */
export const workflowEtaSchema = z.object({
  /** The latest expected end of its unfinished tasks, null when none has one. */
  expected_end_at: isoTime.nullable(),
  /** Why: the reason of the task that ends last (or of one with no estimate). */
  eta_reason: z.string().nullable(),
});
export type WorkflowEta = z.infer<typeof workflowEtaSchema>;

export const workflowListSchema = z.object({ workflows: z.array(workflowSchema.extend(workflowEtaSchema.shape)), next_cursor: z.string().nullable() });
export type WorkflowList = z.infer<typeof workflowListSchema>;

export const workflowTaskQuerySchema = z.object({ task_id: taskIdSchema.optional() }).strict();

/** Query of GET /api/v1/workflows/:id: `tasks=true` lists its tasks too. */
export const getWorkflowQuerySchema = z
  .object({ tasks: z.enum(['true', 'false', '1', '0']).transform((value) => value === 'true' || value === '1').optional() })
  .strict();

/** GET /workflows/:id: the workflow, with its tasks when asked. */
export const workflowMaybeWithTasksSchema = workflowSchema.extend({
  tasks: z.array(workflowTaskItemSchema).optional(),
  ...workflowEtaSchema.shape,
});

/** Ray's workflow metadata. */
export const workflowMetadataSchema = z.object({
  workflow_id: z.string(),
  status: workflowStatusSchema,
  user_metadata: userMetadataSchema,
  stats: workflowStatsSchema,
});

/** One attempt of a task, oldest first. */
export const taskAttemptSchema = z.object({
  id: z.number().int(),
  attempt: z.number().int(),
  status: workRequestStatusSchema,
  result: workRequestResultSchema.nullable(),
  output_data: outputDataSchema.nullable(),
  created_at: isoTime,
  started_at: isoTime.nullable(),
  completed_at: isoTime.nullable(),
});

/** Ray's task metadata: `task_options` is the normalised spec, `work_request` the current attempt. */
export const taskMetadataSchema = z.object({
  workflow_id: z.string(),
  task_id: z.string(),
  name: z.string(),
  status: workRequestStatusSchema,
  task_options: z.record(z.string(), z.json()),
  user_metadata: userMetadataSchema,
  stats: workflowStatsSchema,
  depends_on: z.array(z.string()),
  allow_failure: z.boolean(),
  work_request: workRequestSchema,
  attempts: z.array(taskAttemptSchema),
});
export type TaskMetadata = z.infer<typeof taskMetadataSchema>;

/** GET /workflows/:id/metadata answers the workflow's metadata, or with ?task_id= that task's. */
export const workflowOrTaskMetadataSchema = z.union([taskMetadataSchema, workflowMetadataSchema]);
export type WorkflowMetadata = z.infer<typeof workflowMetadataSchema>;

/**
 * GET /workflows/:id/output: `results` by task_id (null where a task has no successful result), for the task
 * asked for, or else for the tasks nothing depends on; `result` is the asked-for task's result.
 */
export const workflowOutputSchema = z.object({
  workflow_id: z.string(),
  status: workflowStatusSchema,
  results: z.record(z.string(), z.json()),
  result: z.json().optional(),
});
export type WorkflowOutput = z.infer<typeof workflowOutputSchema>;

export const resumeAllWorkflowsRequestSchema = z.object({ include_failed: z.boolean().default(false) }).strict();
export const resumeAllWorkflowsResponseSchema = z.object({
  resumed: z.array(z.object({ workflow_id: z.string(), status: workflowStatusSchema })),
});
export type ResumeAllWorkflowsResponse = z.infer<typeof resumeAllWorkflowsResponseSchema>;
