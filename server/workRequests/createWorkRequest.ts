import type { EntityManager } from '@mikro-orm/postgresql';
import type { TaskSpec } from '../../protocol/taskSpec';
import { WorkRequest } from '../../entities';
import { notifyPendingWork, notifyWorkRequestActivity } from './notifyChanges';

/** Stores a validated task spec as a pending work request and wakes claimers, in one transaction. */
export async function createWorkRequest(em: EntityManager, spec: TaskSpec): Promise<WorkRequest> {
  return em.transactional(async (tem) => {
    const resources = spec.resources;
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
      requirements: resources,
      learnedRequirements: [],
      needMemory: resources.memory ?? null,
      needDisk: resources.disk ?? null,
      needCpu: resources.cpu ?? null,
      needGpu: resources.gpu ?? null,
      needTags: resources.tags ?? [],
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
