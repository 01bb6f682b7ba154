import type { EntityManager } from '@mikro-orm/postgresql';
import type { TaskSpec } from '../../protocol/taskSpec';
import { WorkRequest } from '../../entities';
import { historyKeyOf } from '../history/historyKey';
import { learnRequirements } from '../history/learnRequirements';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { loadWorkerCapacities } from '../scheduler/refreshUnschedulable';
import { unschedulableReason } from '../scheduler/unschedulableReason';
import { notifyPendingWork, notifyWorkRequestActivity } from './notifyChanges';

/**
 * Stores a validated task spec as a pending work request, in one transaction: requirements learned from the
 * history of its key fill what the spec leaves open, the unschedulable reason is set if no worker can run it,
 * and claimers are woken.
 */
export async function createWorkRequest(em: EntityManager, spec: TaskSpec, policy: SchedulingPolicy): Promise<WorkRequest> {
  return em.transactional(async (tem) => {
    const key = historyKeyOf({ taskName: spec.task_name, subject: spec.subject, context: spec.context });
    const explicit = spec.resources;
    const effective = spec.use_history
      ? await learnRequirements(tem, key, explicit, { headroom: policy.headroom, sampleRuns: policy.sampleRuns })
      : { learned: [], needMemory: explicit.memory ?? null, needDisk: explicit.disk ?? null, needCpu: explicit.cpu ?? null, needGpu: explicit.gpu ?? null, needTags: explicit.tags ?? [] };
    const row = tem.create(WorkRequest, {
      taskName: spec.task_name,
      subject: spec.subject ?? null,
      context: spec.context ?? null,
      status: 'pending',
      result: null,
      stateReason: null,
      priority: spec.priority,
      priorityAdjustment: 0,
      taskData: { execution: spec.execution, use_history: spec.use_history },
      requirements: explicit,
      learnedRequirements: effective.learned,
      needMemory: effective.needMemory,
      needDisk: effective.needDisk,
      needCpu: effective.needCpu,
      needGpu: effective.needGpu,
      needTags: effective.needTags,
      unschedulableReason: unschedulableReason(effective, await loadWorkerCapacities(tem)),
      attempt: 1,
      maxAttempts: spec.max_attempts,
      timeLimitS: spec.time_limit ?? null,
      interruptAllowed: spec.interrupt_allowed,
      userMetadata: spec.user_metadata,
      outputData: null,
    });
    await tem.flush();
    await notifyPendingWork(tem);
    await notifyWorkRequestActivity(tem, row.id);
    return row;
  });
}
