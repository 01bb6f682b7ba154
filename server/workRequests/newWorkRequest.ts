import type { TaskData } from '../../entities';
import type { ResourceRequirements, UserMetadata } from '../../protocol/taskSpec';
import type { LearnedRequirement } from '../../protocol/workRequest';
import type { EffectiveRequirements } from '../scheduler/effectiveRequirements';

export interface NewWorkRequest {
  taskName: string;
  subject: string | null;
  context: string | null;
  taskData: TaskData;
  /** What the spec names explicitly. */
  requirements: ResourceRequirements;
  effective: EffectiveRequirements;
  learned: LearnedRequirement[];
  unschedulableReason: string | null;
  stateReason: string | null;
  priority: number;
  priorityAdjustment: number;
  attempt: number;
  maxAttempts: number;
  timeLimitS: number | null;
  interruptAllowed: boolean;
  userMetadata: UserMetadata;
  /** A retry: the attempt it supersedes, its workflow, and when its back-off ends. */
  supersedesId?: number;
  workflowId?: number | null;
  notBefore?: Date;
}

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
