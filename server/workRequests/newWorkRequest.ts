import type { WorkRequest } from '../../entities';
import type { LearnedRequirement } from '../../protocol/workRequest';
import type { EffectiveRequirements } from '../scheduler/effectiveRequirements';

/** A new request's own columns; the need_* columns come from `effective`, learned_requirements from `learned`. */
export type NewWorkRequest = Pick<
  WorkRequest,
  'taskName' | 'subject' | 'context' | 'taskData' | 'requirements' | 'unschedulableReason' | 'stateReason' | 'priority' | 'priorityAdjustment'
  | 'attempt' | 'maxAttempts' | 'timeLimitS' | 'interruptAllowed' | 'userMetadata'
> &
  Partial<Pick<WorkRequest, 'supersedesId' | 'workflowId' | 'taskId' | 'allowFailure' | 'schedule' | 'notBefore'>> & { effective: EffectiveRequirements; learned: LearnedRequirement[] };

/** The optional columns a caller may set; copied only when given. */
const OPTIONAL_COLUMNS = ['supersedesId', 'workflowId', 'taskId', 'allowFailure', 'schedule', 'notBefore'] as const;

/**
 * The one builder of a new pending work request's columns: a first attempt (createWorkRequest) or a retry.
 * Fields are named one by one: an object rest/spread of this many keys cost about 30 µs a row (30 ms a batch of
 * 1,000), a literal under 1 µs.
 */
export function newWorkRequestRow(input: NewWorkRequest) {
  const { effective } = input;
  const row = {
    taskName: input.taskName,
    subject: input.subject,
    context: input.context,
    taskData: input.taskData,
    requirements: input.requirements,
    unschedulableReason: input.unschedulableReason,
    stateReason: input.stateReason,
    priority: input.priority,
    priorityAdjustment: input.priorityAdjustment,
    attempt: input.attempt,
    maxAttempts: input.maxAttempts,
    timeLimitS: input.timeLimitS,
    interruptAllowed: input.interruptAllowed,
    userMetadata: input.userMetadata,
    status: 'pending' as const,
    result: null,
    outputData: null,
    learnedRequirements: input.learned,
    needMemory: effective.needMemory,
    needDisk: effective.needDisk,
    needCpu: effective.needCpu,
    needGpu: effective.needGpu,
    needTags: effective.needTags,
  } as Omit<NewWorkRequest, 'effective' | 'learned'> & {
    status: 'pending';
    result: null;
    outputData: null;
    learnedRequirements: LearnedRequirement[];
    needMemory: number | null;
    needDisk: number | null;
    needCpu: number | null;
    needGpu: number | null;
    needTags: string[];
  };
  for (const key of OPTIONAL_COLUMNS) if (key in input) (row as Record<string, unknown>)[key] = input[key];
  return row;
}
