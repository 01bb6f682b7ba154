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

/** The one builder of a new pending work request's columns: a first attempt (createWorkRequest) or a retry. */
export function newWorkRequestRow({ effective, learned, ...fields }: NewWorkRequest) {
  return {
    ...fields,
    status: 'pending' as const,
    result: null,
    outputData: null,
    learnedRequirements: learned,
    needMemory: effective.needMemory,
    needDisk: effective.needDisk,
    needCpu: effective.needCpu,
    needGpu: effective.needGpu,
    needTags: effective.needTags,
  };
}
