import { ApiToken } from './ApiToken';
import { LogChunk } from './LogChunk';
import { Schedule } from './Schedule';
import { ScheduleFile } from './ScheduleFile';
import { ScheduleFiring } from './ScheduleFiring';
import { TaskHistory } from './TaskHistory';
import { TaskKey } from './TaskKey';
import { TaskKeyIncrement } from './TaskKeyIncrement';
import { Worker } from './Worker';
import { WorkerHourStatistics } from './WorkerHourStatistics';
import { Workflow } from './Workflow';
import { WorkflowDependency } from './WorkflowDependency';
import { WorkflowSpend, WorkflowWorker } from './WorkflowLedger';
import { WorkRequest } from './WorkRequest';

export { ApiToken, LogChunk, Schedule, ScheduleFile, ScheduleFiring, TaskHistory, TaskKey, TaskKeyIncrement, Worker, WorkerHourStatistics, Workflow, WorkflowDependency, WorkflowSpend, WorkflowWorker, WorkRequest };
export type { TaskData } from './WorkRequest';

export const ALL_ENTITIES = [
  ApiToken,
  Worker,
  WorkRequest,
  LogChunk,
  TaskHistory,
  TaskKey,
  TaskKeyIncrement,
  WorkerHourStatistics,
  Workflow,
  WorkflowDependency,
  Schedule,
  ScheduleFiring,
  ScheduleFile,
  WorkflowWorker,
  WorkflowSpend,
];
