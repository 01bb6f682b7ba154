import { z } from 'zod';
import type { RouteRole } from './roles';
import {
  PERCENTILE_NOTE,
  statisticsSummarySchema,
  taskStatisticsDetailQuerySchema,
  taskStatisticsDetailSchema,
  taskStatisticsListSchema,
  taskStatisticsPathSchema,
  taskStatisticsQuerySchema,
  workerStatisticsListSchema,
  workerStatisticsQuerySchema,
} from './statistics';
import {
  createScheduleRequestSchema,
  listSchedulesQuerySchema,
  scheduleListSchema,
  scheduleNameParamsSchema,
  scheduleSchema,
  triggerScheduleResponseSchema,
} from './schedules';
import { taskRunsQuerySchema, taskRunsSchema, timelineQuerySchema, timelineSchema } from './statisticsSeries';
import { runSpendQuerySchema, runSpendSchema, runWorkersSchema } from './runs';
import { taskSpecSchema } from './taskSpec';
import {
  addWorkflowTasksRequestSchema,
  createWorkflowRequestSchema,
  fileExpansionSchema,
  getWorkflowQuerySchema,
  listWorkflowsQuerySchema,
  resumeAllWorkflowsRequestSchema,
  resumeAllWorkflowsResponseSchema,
  workflowListSchema,
  workflowMaybeWithTasksSchema,
  workflowOrTaskMetadataSchema,
  workflowOutputSchema,
  workflowParamsSchema,
  workflowSchema,
  workflowTaskQuerySchema,
  workflowWithTasksSchema,
} from './workflow';
import { apiTokenSchema, createTokenRequestSchema, createTokenResponseSchema, healthResponseSchema, tokenListSchema } from './tokens';
import {
  claimRequestSchema,
  claimResponseSchema,
  completeBatchRequestSchema,
  completeBatchResponseSchema,
  completeWorkRequestSchema,
  heartbeatRequestSchema,
  heartbeatResponseSchema,
  MAX_RESULTS_PER_CALL,
  postLogsRequestSchema,
  postLogsResponseSchema,
  registerWorkerRequestSchema,
  registerWorkerResponseSchema,
  releaseWorkRequestSchema,
  workerSchema,
} from './workerApi';
import {
  createWorkRequestsRequestSchema,
  createWorkRequestsResponseSchema,
  getWorkRequestQuerySchema,
  listWorkRequestsQuerySchema,
  logEntriesQuerySchema,
  logEntriesResponseSchema,
  logEntrySchema,
  priorityAdjustmentRequestSchema,
  workRequestListSchema,
  workRequestSchema,
} from './workRequest';

/** One route of the HTTP API: what the server mounts, checks and answers, and what OpenAPI describes. */
export interface RouteDefinition {
  method: 'get' | 'post' | 'delete';
  /** Express syntax: `:id` is one segment, `*task_name` the rest of the path. */
  path: string;
  summary: string;
  role: RouteRole;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  /** What the body is, for error messages ("invalid task spec: ..."). */
  bodyName?: string;
  /** Counted against the caller's token rate limit (create routes; 429 with Retry-After past it). */
  rateLimited?: boolean;
  /** A missing body is read as `{}`. */
  bodyOptional?: boolean;
  /** The body may be up to WORKSCHED_MAX_BATCH_BODY (16 MiB by default) instead of 1 MiB: batches, and results of up to 1 MiB each. */
  largeBody?: boolean;
  /** The success status; 200 unless said. */
  status?: number;
  /** The JSON answer's schema, or null for an answer that is not described by one (see `responseType`). */
  response: z.ZodType | null;
  /** Content type of an answer without a schema. */
  responseType?: string;
  responseDescription?: string;
  /** A streamed alternative to the JSON answer (NDJSON, one item per line). */
  stream?: { when: string; item: z.ZodType };
}

/** Positive integer ids in the path (up to 16 digits); anything else is a 400 on the `id` path. */
export const idParamsSchema = z.object({
  id: z
    .string()
    .regex(/^[1-9][0-9]{0,15}$/, 'expected a positive integer')
    .transform(Number),
});

/** Task names may contain "/": the wildcard hands the segments over as an array (express 5). */
const taskNameParamsSchema = z.preprocess(
  (params) => {
    const raw = (params as { task_name?: unknown } | undefined)?.task_name;
    return { task_name: Array.isArray(raw) ? raw.join('/') : raw };
  },
  taskStatisticsPathSchema,
);

/** A worker by its name (as `worksched workers` lists it). */
const workerNameParamsSchema = z.object({ name: z.string().min(1).max(200) });

const route = <const R extends RouteDefinition>(definition: R): R => definition;

/** Every route the server has, in mounting order. */
export const API_ROUTES = {
  home: route({
    method: 'get',
    path: '/',
    summary: 'The operator dashboard (a browser); the links to the API description, health, metrics and the CLI (JSON)',
    role: 'none',
    response: z.object({ service: z.string(), api: z.string(), openapi: z.string(), health: z.string(), metrics: z.string(), cli: z.string(), dashboard: z.string() }),
    responseDescription: 'The links as JSON; the dashboard page (its login form lists the same links) when the client prefers text/html',
  }),
  health: route({ method: 'get', path: '/healthz', summary: 'Server and database health (503 when the database is unreachable)', role: 'none', response: healthResponseSchema }),
  registerWorker: route({
    method: 'post',
    path: '/api/v1/workers/register',
    summary: 'Register a worker; the token is shown once',
    role: 'enrollment',
    body: registerWorkerRequestSchema,
    bodyName: 'worker registration',
    response: registerWorkerResponseSchema,
    status: 201,
  }),
  heartbeat: route({
    method: 'post',
    path: '/api/v1/workers/heartbeat',
    summary: 'Worker is alive; answers which running requests to stop',
    role: 'worker',
    body: heartbeatRequestSchema,
    bodyName: 'heartbeat',
    response: heartbeatResponseSchema,
  }),
  claim: route({
    method: 'post',
    path: '/api/v1/workers/claim',
    summary: 'Apply the results it carries (answered per item in `results`), then claim pending requests that fit this worker; long-polls up to wait_s',
    role: 'worker',
    body: claimRequestSchema,
    bodyName: 'claim',
    bodyOptional: true,
    largeBody: true,
    response: claimResponseSchema,
  }),
  completeBatch: route({
    method: 'post',
    path: '/api/v1/workers/complete',
    summary: `Worker reports many results at once (at most ${MAX_RESULTS_PER_CALL}), in one transaction; each item is answered on its own like the per-request complete route (200, 404, 409) and is idempotent`,
    role: 'worker',
    body: completeBatchRequestSchema,
    bodyName: 'batch completion',
    largeBody: true,
    response: completeBatchResponseSchema,
  }),
  listWorkers: route({ method: 'get', path: '/api/v1/workers', summary: 'Workers with resources and state', role: 'operator', response: z.object({ workers: z.array(workerSchema) }) }),
  disableWorker: route({
    method: 'post',
    path: '/api/v1/workers/:name/disable',
    summary: 'Disable a worker: its claims get nothing and its running requests are requeued (or aborted) as for a lost worker; idempotent',
    role: 'operator',
    params: workerNameParamsSchema,
    response: workerSchema,
  }),
  enableWorker: route({
    method: 'post',
    path: '/api/v1/workers/:name/enable',
    summary: 'Enable a disabled worker again; idempotent',
    role: 'operator',
    params: workerNameParamsSchema,
    response: workerSchema,
  }),
  createWorkRequest: route({
    method: 'post',
    path: '/api/v1/work-requests',
    summary: 'Create a work request from a task spec; a single_file_task spec creates a workflow of one request per file of required_folder',
    role: 'client',
    body: taskSpecSchema,
    bodyName: 'task spec',
    rateLimited: true,
    response: z.union([workRequestSchema, fileExpansionSchema]),
    status: 201,
  }),
  createWorkRequests: route({
    method: 'post',
    path: '/api/v1/work-requests/batch',
    summary: 'Create up to 10,000 work requests at once, all or none, answered in the order of the specs; the body may be up to WORKSCHED_MAX_BATCH_BODY (16 MiB)',
    role: 'client',
    body: createWorkRequestsRequestSchema,
    bodyName: 'batch of task specs',
    largeBody: true,
    rateLimited: true,
    response: createWorkRequestsResponseSchema,
    status: 201,
  }),
  listWorkRequests: route({
    method: 'get',
    path: '/api/v1/work-requests',
    summary: 'List work requests, newest first, with cursor pagination',
    role: 'client',
    query: listWorkRequestsQuerySchema,
    response: workRequestListSchema,
  }),
  getWorkRequest: route({
    method: 'get',
    path: '/api/v1/work-requests/:id',
    summary: 'One work request with output_data, requirements and state_reason; wait_s long-polls for a change of status',
    role: 'client',
    params: idParamsSchema,
    query: getWorkRequestQuerySchema,
    response: workRequestSchema,
  }),
  cancelWorkRequest: route({
    method: 'post',
    path: '/api/v1/work-requests/:id/cancel',
    summary: 'Cancel: pending → aborted; running → aborted and its worker kills it',
    role: 'client',
    params: idParamsSchema,
    response: workRequestSchema,
  }),
  retryWorkRequest: route({
    method: 'post',
    path: '/api/v1/work-requests/:id/retry',
    summary: 'Retry by hand a request that ended without success (failure, error, skipped, aborted): a new attempt supersedes it, pending at once; 409 for one still to run, running, successful or already retried',
    role: 'client',
    params: idParamsSchema,
    response: workRequestSchema,
    responseDescription: 'The new attempt',
    status: 201,
  }),
  adjustPriority: route({
    method: 'post',
    path: '/api/v1/work-requests/:id/priority',
    summary: 'Set the operator priority adjustment',
    role: 'operator',
    params: idParamsSchema,
    body: priorityAdjustmentRequestSchema,
    bodyName: 'priority adjustment',
    response: workRequestSchema,
  }),
  getLogs: route({
    method: 'get',
    path: '/api/v1/work-requests/:id/logs',
    summary: 'Log entries; follow=true streams NDJSON until the request ends',
    role: 'client',
    params: idParamsSchema,
    query: logEntriesQuerySchema,
    response: logEntriesResponseSchema,
    stream: { when: 'follow=true', item: logEntrySchema },
  }),
  postLogs: route({
    method: 'post',
    path: '/api/v1/work-requests/:id/logs',
    summary: 'Assigned worker posts log entries (idempotent by seq)',
    role: 'worker',
    params: idParamsSchema,
    body: postLogsRequestSchema,
    bodyName: 'log entries',
    response: postLogsResponseSchema,
  }),
  completeWorkRequest: route({
    method: 'post',
    path: '/api/v1/work-requests/:id/complete',
    summary: 'Assigned worker reports the result (idempotent)',
    role: 'worker',
    params: idParamsSchema,
    body: completeWorkRequestSchema,
    bodyName: 'completion',
    largeBody: true,
    response: workRequestSchema,
  }),
  releaseWorkRequest: route({
    method: 'post',
    path: '/api/v1/work-requests/:id/release',
    summary: 'Assigned worker hands a running request back (shutdown)',
    role: 'worker',
    params: idParamsSchema,
    body: releaseWorkRequestSchema,
    bodyName: 'release',
    response: workRequestSchema,
  }),
  createSchedule: route({
    method: 'post',
    path: '/api/v1/schedules',
    summary: 'Create a schedule: a cron, every or files trigger and the task spec each firing creates (201; 200 when one with this name and definition exists)',
    role: 'client',
    body: createScheduleRequestSchema,
    bodyName: 'schedule',
    response: scheduleSchema,
    status: 201,
  }),
  listSchedules: route({
    method: 'get',
    path: '/api/v1/schedules',
    summary: 'Every schedule by name, with its next five fire times, last firing and counts',
    role: 'client',
    query: listSchedulesQuerySchema,
    response: scheduleListSchema,
  }),
  getSchedule: route({
    method: 'get',
    path: '/api/v1/schedules/:name',
    summary: "One schedule: next_fire_times (five, ISO 8601 in the schedule's time zone), last_firing and its work request's status and result, firings_count",
    role: 'client',
    params: scheduleNameParamsSchema,
    response: scheduleSchema,
  }),
  pauseSchedule: route({
    method: 'post',
    path: '/api/v1/schedules/:name/pause',
    summary: 'Stop firing until resumed (work already created goes on)',
    role: 'client',
    params: scheduleNameParamsSchema,
    response: scheduleSchema,
  }),
  resumeSchedule: route({
    method: 'post',
    path: '/api/v1/schedules/:name/resume',
    summary: 'Fire again from the next fire time after now (times passed while paused are not caught up)',
    role: 'client',
    params: scheduleNameParamsSchema,
    response: scheduleSchema,
  }),
  triggerSchedule: route({
    method: 'post',
    path: '/api/v1/schedules/:name/trigger',
    summary: 'Fire now, paused or not and whatever the overlap policy; a files trigger fires every pending file, a partial batch too',
    role: 'client',
    params: scheduleNameParamsSchema,
    response: triggerScheduleResponseSchema,
    status: 201,
  }),
  deleteSchedule: route({
    method: 'delete',
    path: '/api/v1/schedules/:name',
    summary: 'Delete a schedule and its firings (204); work it created stays',
    role: 'client',
    params: scheduleNameParamsSchema,
    status: 204,
    response: null,
    responseDescription: 'Deleted',
  }),
  createWorkflow: route({
    method: 'post',
    path: '/api/v1/workflows',
    summary: 'Create a workflow and its tasks (up to 10,000; body up to WORKSCHED_MAX_BATCH_BODY). Idempotent by workflow_id: the same definition answers 200 with the existing workflow (resuming a FAILED or RESUMABLE one), another definition is 409 workflow_exists; 429 queue_full over WORKSCHED_MAX_PENDING_WORKFLOWS',
    role: 'client',
    body: createWorkflowRequestSchema,
    bodyName: 'workflow',
    largeBody: true,
    response: workflowWithTasksSchema,
    status: 201,
  }),
  resumeAllWorkflows: route({
    method: 'post',
    path: '/api/v1/workflows/resume-all',
    summary: 'Resume every RESUMABLE workflow (and FAILED ones with include_failed)',
    role: 'client',
    body: resumeAllWorkflowsRequestSchema,
    bodyName: 'resume-all',
    bodyOptional: true,
    response: resumeAllWorkflowsResponseSchema,
  }),
  listWorkflows: route({
    method: 'get',
    path: '/api/v1/workflows',
    summary: 'List workflows, newest first, optionally by a set of statuses (?status=RUNNING,FAILED), with cursor pagination',
    role: 'client',
    query: listWorkflowsQuerySchema,
    response: workflowListSchema,
  }),
  getWorkflow: route({
    method: 'get',
    path: '/api/v1/workflows/:id',
    summary: 'One workflow with its task_counts by status; ?tasks=true lists each task (current attempt, depends_on, worker, times)',
    role: 'client',
    params: workflowParamsSchema,
    query: getWorkflowQuerySchema,
    response: workflowMaybeWithTasksSchema,
  }),
  deleteWorkflow: route({
    method: 'delete',
    path: '/api/v1/workflows/:id',
    summary: 'Delete a workflow and its work requests (history stays); 409 workflow_active while PENDING or RUNNING',
    role: 'client',
    params: workflowParamsSchema,
    status: 204,
    response: null,
    responseDescription: 'Deleted (no body)',
  }),
  addWorkflowTasks: route({
    method: 'post',
    path: '/api/v1/workflows/:id/tasks',
    summary:
      'Add tasks to an open workflow; idempotent by task_id (a task_id it has already is left as it is). Answers the workflow with only the tasks of this request (their current attempts), so a refill costs O(added tasks)',
    role: 'client',
    params: workflowParamsSchema,
    body: addWorkflowTasksRequestSchema,
    bodyName: 'workflow tasks',
    largeBody: true,
    response: workflowWithTasksSchema,
  }),
  closeWorkflow: route({
    method: 'post',
    path: '/api/v1/workflows/:id/close',
    summary: 'No more tasks will be added: the workflow ends once its tasks are done',
    role: 'client',
    params: workflowParamsSchema,
    response: workflowSchema,
  }),
  getRunWorkers: route({
    method: 'get',
    path: '/api/v1/workflows/:id/workers',
    summary: "A run's workers: each one's status, tasks, cost (running attempts accrue), results, cost per result and stop_reason",
    role: 'client',
    params: workflowParamsSchema,
    response: runWorkersSchema,
  }),
  getRunSpend: route({
    method: 'get',
    path: '/api/v1/workflows/:id/spend',
    summary: "A run's spend over time (?window=10m|1h|6h|24h|7d, 1h by default): per step, what its completed attempts cost and, with a budget, its spend over the budget's trailing window at the step's end, beside budget_limit",
    role: 'client',
    params: workflowParamsSchema,
    query: runSpendQuerySchema,
    response: runSpendSchema,
  }),
  getWorkflowMetadata: route({
    method: 'get',
    path: '/api/v1/workflows/:id/metadata',
    summary: "Ray-style workflow metadata; with ?task_id= that task's metadata (task_options, attempts, its work request)",
    role: 'client',
    params: workflowParamsSchema,
    query: workflowTaskQuerySchema,
    response: workflowOrTaskMetadataSchema,
  }),
  getWorkflowOutput: route({
    method: 'get',
    path: '/api/v1/workflows/:id/output',
    summary: "Results: ?task_id= that task's; without it those of the tasks nothing depends on",
    role: 'client',
    params: workflowParamsSchema,
    query: workflowTaskQuerySchema,
    response: workflowOutputSchema,
  }),
  cancelWorkflow: route({
    method: 'post',
    path: '/api/v1/workflows/:id/cancel',
    summary: 'Cancel: blocked and pending tasks aborted, running ones killed by their workers; CANCELED (cannot be resumed)',
    role: 'client',
    params: workflowParamsSchema,
    response: workflowSchema,
  }),
  resumeWorkflow: route({
    method: 'post',
    path: '/api/v1/workflows/:id/resume',
    summary: 'Re-run failed, aborted and skipped tasks as new attempts (a success is never re-run); 409 workflow_canceled',
    role: 'client',
    params: workflowParamsSchema,
    response: workflowSchema,
  }),
  createToken: route({
    method: 'post',
    path: '/api/v1/tokens',
    summary: 'Create an API token (shown once, stored hashed)',
    role: 'admin',
    body: createTokenRequestSchema,
    bodyName: 'token request',
    response: createTokenResponseSchema,
    status: 201,
  }),
  listTokens: route({
    method: 'get',
    path: '/api/v1/tokens',
    summary: 'Every API and worker token, oldest first: id, role, name, times; never the secret',
    role: 'admin',
    response: tokenListSchema,
  }),
  revokeToken: route({
    method: 'post',
    path: '/api/v1/tokens/:id/revoke',
    summary: 'Revoke a token: refused at once by every server process sharing the database; idempotent',
    role: 'admin',
    params: idParamsSchema,
    response: apiTokenSchema,
  }),
  listTaskStatistics: route({
    method: 'get',
    path: '/api/v1/statistics/tasks',
    summary: `Per history key (task_name, subject, context): all-time runs, successes, failures, success_rate and last times; duration, cpu_time, memory and disk_space percentiles ${PERCENTILE_NOTE}. Keyset cursor pagination.`,
    role: 'operator',
    query: taskStatisticsQuerySchema,
    response: taskStatisticsListSchema,
  }),
  getTaskStatistics: route({
    method: 'get',
    path: '/api/v1/statistics/tasks/*task_name',
    summary: 'One task: its keys by subject/context, a total across them, and its 20 newest runs; 404 when the task has no history',
    role: 'operator',
    params: taskNameParamsSchema,
    query: taskStatisticsDetailQuerySchema,
    response: taskStatisticsDetailSchema,
  }),
  workerStatistics: route({
    method: 'get',
    path: '/api/v1/statistics/workers',
    summary: 'Every registered worker: runs, failures, busy time and utilisation over a window (default 24h, at most 90 days)',
    role: 'operator',
    query: workerStatisticsQuerySchema,
    response: workerStatisticsListSchema,
  }),
  statisticsSummary: route({
    method: 'get',
    path: '/api/v1/statistics/summary',
    summary: 'Work requests by status and by result, pending ones no worker can run (unschedulable), workers by state',
    role: 'operator',
    response: statisticsSummarySchema,
  }),
  statisticsTimeline: route({
    method: 'get',
    path: '/api/v1/statistics/timeline',
    summary: 'Completions by result and queue wait (created → started) per time bucket over a window (default 1h in 1-minute buckets), for charts',
    role: 'operator',
    query: timelineQuerySchema,
    response: timelineSchema,
  }),
  taskRuns: route({
    method: 'get',
    path: '/api/v1/statistics/runs',
    summary: `One history key's newest runs (up to 1,000; subject/context omitted: all of them), the percentiles of its successful runs ${PERCENTILE_NOTE}, and the requirements the scheduler would learn for it now`,
    role: 'operator',
    query: taskRunsQuerySchema,
    response: taskRunsSchema,
  }),
  metrics: route({
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics',
    role: 'operator',
    response: null,
    responseType: 'text/plain',
    responseDescription: 'Prometheus text exposition format',
  }),
  openApi: route({
    method: 'get',
    path: '/api/v1/openapi.json',
    summary: 'This OpenAPI description',
    role: 'none',
    response: null,
    responseType: 'application/json',
    responseDescription: 'OpenAPI 3.1 document',
  }),
} as const satisfies Record<string, RouteDefinition>;

export type ApiRoutes = typeof API_ROUTES;
export type RouteName = keyof ApiRoutes;

/** `/api/v1/work-requests/:id` → `/api/v1/work-requests/{id}` (OpenAPI's path syntax). */
export function openApiPath(path: string): string {
  return path.replace(/[:*]([a-z_]+)/g, '{$1}');
}
