import { ApiToken } from './ApiToken';
import { LogChunk } from './LogChunk';
import { TaskHistory } from './TaskHistory';
import { TaskKey } from './TaskKey';
import { TaskKeyIncrement } from './TaskKeyIncrement';
import { Worker } from './Worker';
import { Workflow } from './Workflow';
import { WorkflowDependency } from './WorkflowDependency';
import { WorkflowSpend, WorkflowWorker } from './WorkflowLedger';
import { WorkRequest } from './WorkRequest';

export { ApiToken, LogChunk, TaskHistory, TaskKey, TaskKeyIncrement, Worker, Workflow, WorkflowDependency, WorkflowSpend, WorkflowWorker, WorkRequest };
export type { TaskData } from './WorkRequest';

export const ALL_ENTITIES = [ApiToken, Worker, WorkRequest, LogChunk, TaskHistory, TaskKey, TaskKeyIncrement, Workflow, WorkflowDependency, WorkflowWorker, WorkflowSpend];
