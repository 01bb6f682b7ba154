import type {
  StatisticsSummary,
  TaskStatistics,
  TaskStatisticsDetail,
  TaskStatisticsFilter,
  TaskStatisticsList,
  WorkerStatisticsList,
} from '../protocol/statistics';
import type { CreateScheduleRequest, Schedule, ScheduleFiring } from '../protocol/schedules';
import type { TaskSpecInput } from '../protocol/taskSpec';
import type { Worker } from '../protocol/workerApi';
import type { CreateWorkRequestsRequest, LogEntry, WorkRequest, WorkRequestList, WorkRequestResult, WorkRequestStatus } from '../protocol/workRequest';
import type { ApiTokenInfo, TokenRole } from '../protocol/tokens';
import type {
  CreateWorkflowRequest,
  FileExpansion,
  ResumeAllWorkflowsResponse,
  TaskMetadata,
  Workflow,
  WorkflowEta,
  WorkflowList,
  WorkflowMetadata,
  WorkflowOutput,
  WorkflowStatus,
  WorkflowTaskInput,
  WorkflowWithTasks,
} from '../protocol/workflow';
import type { RunWorkers } from '../protocol/runs';
import { feed, type FeedHandle, type FeedItem, type FeedOptions } from './feed';
import { HttpTransport, type HttpOptions } from './http';
import { waitForWorkflow } from './waitForWorkflow';
import { waitForWorkRequest, type WaitForOptions } from './waitForWorkRequest';

export interface ListWorkRequestsFilter {
  status?: WorkRequestStatus | WorkRequestStatus[];
  result?: WorkRequestResult | WorkRequestResult[];
  task_name?: string;
  subject?: string;
  context?: string;
  worker?: string | number;
  /** A workflow's workflow_id: its tasks' requests. */
  workflow?: string;
  /** Work that this schedule's firings created. */
  schedule?: string;
  limit?: number;
  cursor?: string;
}

/**
 * Typed client for the worksched HTTP API v1, for workflows and scripts.
 *
 * ```ts
 * const client = new WorkschedClient({ baseUrl: 'http://127.0.0.1:8080', token: process.env.WORKSCHED_TOKEN });
 * const request = await client.createWorkRequest({ task_name: 'hello', execution: { executable: '/bin/echo', args: ['hi'] } });
 * const done = await client.waitFor(request.id);
 * console.log(done.result, done.output_data?.runtime_statistics);
 * ```
 */
export class WorkschedClient {
  readonly http: HttpTransport;

  constructor(options: HttpOptions) {
    this.http = new HttpTransport(options);
  }

  /** A `single_file_task` spec answers the workflow of its one-per-file requests (FileExpansion) instead. */
  createWorkRequest(spec: TaskSpecInput & { single_file_task: true }): Promise<FileExpansion>;
  createWorkRequest(spec: TaskSpecInput): Promise<WorkRequest>;
  createWorkRequest(spec: TaskSpecInput): Promise<WorkRequest | FileExpansion> {
    return this.http.request('POST', '/api/v1/work-requests', { body: spec });
  }

  /**
   * Creates up to MAX_BATCH_CREATE (10,000) requests in one call, all or none (a bad spec is a 400 naming
   * `work_requests.<index>.<field>`); answers in the order of the specs. Split longer lists yourself.
   */
  async createWorkRequests(specs: TaskSpecInput[]): Promise<WorkRequest[]> {
    const answer = await this.http.request<{ work_requests: WorkRequest[] }>('POST', '/api/v1/work-requests/batch', { body: { work_requests: specs } satisfies CreateWorkRequestsRequest });
    return answer.work_requests;
  }

  /** With `waitS` the server holds the answer until the status is no longer `whileStatus` (default: it has ended). */
  getWorkRequest(id: number, options: { waitS?: number; whileStatus?: WorkRequestStatus; signal?: AbortSignal } = {}): Promise<WorkRequest> {
    const waitS = options.waitS && options.waitS > 0 ? Math.round(options.waitS * 1000) / 1000 : undefined;
    return this.http.request('GET', `/api/v1/work-requests/${id}`, {
      query: { wait_s: waitS, while_status: waitS === undefined ? undefined : options.whileStatus },
      extraTimeoutMs: waitS === undefined ? 0 : waitS * 1000,
      signal: options.signal,
    });
  }

  listWorkRequests(filter: ListWorkRequestsFilter = {}): Promise<WorkRequestList> {
    return this.http.request('GET', '/api/v1/work-requests', { query: { ...filter } });
  }

  /** Every matching request, newest first, following the cursor page by page. */
  async *iterateWorkRequests(filter: ListWorkRequestsFilter = {}): AsyncGenerator<WorkRequest> {
    let cursor: string | undefined = filter.cursor;
    do {
      const page = await this.listWorkRequests({ ...filter, cursor });
      yield* page.work_requests;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }

  cancel(id: number): Promise<WorkRequest> {
    return this.http.request('POST', `/api/v1/work-requests/${id}/cancel`);
  }

  /**
   * Retries by hand a request that ended without success (failure, error, skipped, aborted): answers the new
   * attempt, which supersedes it. A 409 (`not_retryable`, `already_retried`) for any other.
   */
  retry(id: number): Promise<WorkRequest> {
    return this.http.request('POST', `/api/v1/work-requests/${id}/retry`);
  }

  getLogs(id: number, options: { afterSeq?: number; limit?: number } = {}): Promise<{ entries: LogEntry[]; truncated: boolean }> {
    return this.http.request('GET', `/api/v1/work-requests/${id}/logs`, { query: { after_seq: options.afterSeq, limit: options.limit } });
  }

  /** Log entries as they are stored, until the request ends (NDJSON over chunked HTTP). */
  async *followLogs(id: number, options: { afterSeq?: number; signal?: AbortSignal } = {}): AsyncGenerator<LogEntry> {
    const response = await this.http.fetch('GET', `/api/v1/work-requests/${id}/logs`, {
      query: { follow: 'true', after_seq: options.afterSeq },
      signal: options.signal,
      noTimeout: true,
    });
    if (!response.body) return;
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true });
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.trim()) yield JSON.parse(line) as LogEntry;
      }
    }
  }

  /**
   * Resolves once the request has completed or been aborted, following retries to the final attempt (see
   * WaitForOptions); rejects with a WaitTimeoutError when `timeoutMs` runs out.
   */
  waitFor(id: number, options: WaitForOptions = {}): Promise<WorkRequest> {
    return waitForWorkRequest(this, id, options);
  }

  /**
   * POST /api/v1/workflows (build the body with WorkflowBuilder). Idempotent by workflow_id: the same
   * definition again answers the existing workflow (resuming a FAILED or RESUMABLE one); another is a 409
   * `workflow_exists`.
   */
  createWorkflow(body: CreateWorkflowRequest): Promise<WorkflowWithTasks> {
    return this.http.request('POST', '/api/v1/workflows', { body });
  }

  /** Adds tasks to an open workflow; a task_id it has already is left as it is. Answers only these tasks' attempts. */
  addWorkflowTasks(workflowId: string, tasks: WorkflowTaskInput[]): Promise<WorkflowWithTasks> {
    return this.http.request('POST', `/api/v1/workflows/${encodeURIComponent(workflowId)}/tasks`, { body: { tasks } });
  }

  closeWorkflow(workflowId: string): Promise<Workflow> {
    return this.http.request('POST', `/api/v1/workflows/${encodeURIComponent(workflowId)}/close`);
  }

  /** With its expected end (`expected_end_at`, `eta_reason`: the estimates pass). */
  getWorkflow(workflowId: string): Promise<Workflow & WorkflowEta>;
  /** With `tasks`: each task's current attempt, dependencies, worker and times too. */
  getWorkflow(workflowId: string, options: { tasks: true }): Promise<WorkflowWithTasks & WorkflowEta>;
  getWorkflow(workflowId: string, options: { tasks?: boolean } = {}): Promise<(Workflow | WorkflowWithTasks) & WorkflowEta> {
    return this.http.request('GET', `/api/v1/workflows/${encodeURIComponent(workflowId)}`, { query: { tasks: options.tasks ? 'true' : undefined } });
  }

  listWorkflows(filter: { status?: WorkflowStatus | WorkflowStatus[]; limit?: number; cursor?: string } = {}): Promise<WorkflowList> {
    return this.http.request('GET', '/api/v1/workflows', { query: { ...filter } });
  }

  /** Ray-style metadata of the workflow, or of one task (task_options, attempts, its current work request). */
  getWorkflowMetadata(workflowId: string): Promise<WorkflowMetadata>;
  getWorkflowMetadata(workflowId: string, taskId: string): Promise<TaskMetadata>;
  getWorkflowMetadata(workflowId: string, taskId?: string): Promise<WorkflowMetadata | TaskMetadata> {
    return this.http.request('GET', `/api/v1/workflows/${encodeURIComponent(workflowId)}/metadata`, { query: { task_id: taskId } });
  }

  /** A task's result (`result`), or the results of the tasks nothing depends on (`results`). */
  getWorkflowOutput(workflowId: string, taskId?: string): Promise<WorkflowOutput> {
    return this.http.request('GET', `/api/v1/workflows/${encodeURIComponent(workflowId)}/output`, { query: { task_id: taskId } });
  }

  /** Resolves once the workflow has ended: SUCCESSFUL, FAILED, RESUMABLE or CANCELED. */
  waitForWorkflow(workflowId: string, options: { timeoutMs?: number; intervalMs?: number; signal?: AbortSignal } = {}): Promise<Workflow> {
    return waitForWorkflow((id) => this.getWorkflow(id), workflowId, options);
  }

  /** A run's workers: status, tasks, cost, results, cost per result and why one was stopped. */
  getRunWorkers(runId: string): Promise<RunWorkers> {
    return this.http.request('GET', `/api/v1/workflows/${encodeURIComponent(runId)}/workers`);
  }

  /**
   * Feeds the run `runId` (an open workflow, created if needed) from an iterable that may never end, keeping
   * `inFlight` tasks unfinished; see client/feed.ts. Safe to call again after a kill with the same run id.
   */
  feed(runId: string, items: AsyncIterable<FeedItem> | Iterable<FeedItem>, options: FeedOptions = {}): FeedHandle {
    return feed(this, runId, items, options);
  }

  cancelWorkflow(workflowId: string): Promise<Workflow> {
    return this.http.request('POST', `/api/v1/workflows/${encodeURIComponent(workflowId)}/cancel`);
  }

  /** Re-runs failed, aborted and skipped tasks; a 409 `workflow_canceled` for a CANCELED workflow. */
  resumeWorkflow(workflowId: string): Promise<Workflow> {
    return this.http.request('POST', `/api/v1/workflows/${encodeURIComponent(workflowId)}/resume`);
  }

  /** Resumes every RESUMABLE workflow (and FAILED ones with includeFailed). */
  async resumeAllWorkflows(options: { includeFailed?: boolean } = {}): Promise<ResumeAllWorkflowsResponse['resumed']> {
    const answer = await this.http.request<ResumeAllWorkflowsResponse>('POST', '/api/v1/workflows/resume-all', { body: { include_failed: options.includeFailed ?? false } });
    return answer.resumed;
  }

  /** Deletes an ended workflow and its requests; a 409 `workflow_active` while it is PENDING or RUNNING. */
  async deleteWorkflow(workflowId: string): Promise<void> {
    await this.http.request('DELETE', `/api/v1/workflows/${encodeURIComponent(workflowId)}`);
  }

  async listWorkers(): Promise<Worker[]> {
    const answer = await this.http.request<{ workers: Worker[] }>('GET', '/api/v1/workers');
    return answer.workers;
  }

  /** GET /api/v1/statistics/tasks (operator): one page of per-key statistics; pass `next_cursor` as `cursor` for the next. */
  getTaskStatistics(filter: TaskStatisticsFilter = {}): Promise<TaskStatisticsList> {
    return this.http.request('GET', '/api/v1/statistics/tasks', { query: { ...filter } });
  }

  /** Every key's statistics matching `filter`, following the cursor page by page. */
  async *iterateTaskStatistics(filter: TaskStatisticsFilter = {}): AsyncGenerator<TaskStatistics> {
    let cursor: string | undefined = filter.cursor;
    do {
      const page = await this.getTaskStatistics({ ...filter, cursor });
      yield* page.tasks;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }

  /** GET /api/v1/statistics/tasks/:task_name (operator): the task by subject/context, its total and recent runs. */
  getTaskStatisticsFor(taskName: string, options: { limit?: number } = {}): Promise<TaskStatisticsDetail> {
    return this.http.request('GET', `/api/v1/statistics/tasks/${encodeURIComponent(taskName)}`, { query: { limit: options.limit } });
  }

  /** GET /api/v1/statistics/workers (operator); `window` in seconds or "90s" / "15m" / "2h" / "7d" (default 24h). */
  getWorkerStatistics(window?: string | number): Promise<WorkerStatisticsList> {
    return this.http.request('GET', '/api/v1/statistics/workers', { query: { window } });
  }

  /** GET /api/v1/statistics/summary (operator): work requests by status and result, unschedulable, workers by state. */
  getStatisticsSummary(): Promise<StatisticsSummary> {
    return this.http.request('GET', '/api/v1/statistics/summary');
  }

  /** `expiresIn`: seconds or a duration such as "30d"; unset, the token never expires. */
  createToken(
    role: Exclude<TokenRole, 'worker'>,
    name?: string,
    expiresIn?: string | number,
  ): Promise<{ id: number; role: TokenRole; name: string | null; expires_at: string | null; token: string }> {
    return this.http.request('POST', '/api/v1/tokens', { body: { role, ...(name ? { name } : {}), ...(expiresIn !== undefined ? { expires_in: expiresIn } : {}) } });
  }

  async listTokens(): Promise<ApiTokenInfo[]> {
    const answer = await this.http.request<{ tokens: ApiTokenInfo[] }>('GET', '/api/v1/tokens');
    return answer.tokens;
  }

  revokeToken(id: number): Promise<ApiTokenInfo> {
    return this.http.request('POST', `/api/v1/tokens/${id}/revoke`);
  }

  disableWorker(name: string): Promise<Worker> {
    return this.http.request('POST', `/api/v1/workers/${encodeURIComponent(name)}/disable`);
  }

  enableWorker(name: string): Promise<Worker> {
    return this.http.request('POST', `/api/v1/workers/${encodeURIComponent(name)}/enable`);
  }

  /** POST /api/v1/schedules: 201 with the new schedule, or 200 with the existing one of this name and definition. */
  createSchedule(schedule: CreateScheduleRequest): Promise<Schedule> {
    return this.http.request('POST', '/api/v1/schedules', { body: schedule });
  }

  async listSchedules(filter: { enabled?: boolean } = {}): Promise<Schedule[]> {
    const answer = await this.http.request<{ schedules: Schedule[] }>('GET', '/api/v1/schedules', { query: { enabled: filter.enabled } });
    return answer.schedules;
  }

  getSchedule(name: string): Promise<Schedule> {
    return this.http.request('GET', `/api/v1/schedules/${encodeURIComponent(name)}`);
  }

  pauseSchedule(name: string): Promise<Schedule> {
    return this.http.request('POST', `/api/v1/schedules/${encodeURIComponent(name)}/pause`);
  }

  resumeSchedule(name: string): Promise<Schedule> {
    return this.http.request('POST', `/api/v1/schedules/${encodeURIComponent(name)}/resume`);
  }

  /** Fires now (paused or not); a files trigger fires every pending file, a partial batch too. */
  triggerSchedule(name: string): Promise<{ schedule: string; firings: ScheduleFiring[] }> {
    return this.http.request('POST', `/api/v1/schedules/${encodeURIComponent(name)}/trigger`);
  }

  async deleteSchedule(name: string): Promise<void> {
    await this.http.request('DELETE', `/api/v1/schedules/${encodeURIComponent(name)}`);
  }

  health(): Promise<{ status: string; database: string }> {
    return this.http.request('GET', '/healthz');
  }
}
