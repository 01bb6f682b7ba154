/**
 * The worksched client SDK. Import from here only (no deep imports):
 *
 * ```ts
 * import { WorkschedClient } from 'worksched/client';
 * const client = new WorkschedClient({ baseUrl: 'http://127.0.0.1:8080', token });
 * const request = await client.createWorkRequest({ task_name: 'build', execution: { executable: 'make' } });
 * const finished = await client.waitFor(request.id);
 * ```
 */
export { WorkschedClient, type ListWorkRequestsFilter } from './WorkschedClient';
export { WaitTimeoutError, type WaitForOptions, type WaitUpdate } from './waitForWorkRequest';
export { WorkflowBuilder, type TaskOptions, type TaskRef } from './workflowBuilder';
export { WorkflowWaitTimeoutError } from './waitForWorkflow';
export type { FeedHandle, FeedItem, FeedOptions, FeedProgress, FeedResult } from './feed';
export type { RunWorker, RunWorkers } from '../protocol/runs';
export type {
  CreateWorkflowRequest,
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
export { WorkschedApiError, WorkschedConnectionError } from './http';
export { hasErrorCode, isTransient } from './errors';
export { API_ERRORS, type ApiErrorCode } from '../protocol/apiErrors';
export type { TaskSpecInput } from '../protocol/taskSpec';
export type { WorkRequest, WorkRequestList, LogEntry, WorkRequestStatus, WorkRequestResult } from '../protocol/workRequest';
export type { Worker } from '../protocol/workerApi';
export type { CreateScheduleRequest, Schedule, ScheduleFiring } from '../protocol/schedules';
export type { OutputData, RuntimeStatistics } from '../protocol/outputData';
export type {
  TaskStatistics,
  TaskStatisticsFilter,
  TaskStatisticsList,
  TaskStatisticsDetail,
  RecentRun,
  WorkerStatistics,
  WorkerStatisticsList,
  StatisticsSummary,
} from '../protocol/statistics';
