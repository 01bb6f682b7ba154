import type { EntityManager } from '@mikro-orm/postgresql';
import type { TaskSpec } from '../../protocol/taskSpec';
import { WorkRequest } from '../../entities';
import { historyKeyOf } from '../history/historyKey';
import { learnRequirements } from '../history/learnRequirements';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { explicitRequirements } from '../scheduler/effectiveRequirements';
import { loadWorkerCapacities } from '../scheduler/refreshUnschedulable';
import { unschedulableReason } from '../scheduler/unschedulableReason';
import { newWorkRequestRow } from './newWorkRequest';
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
      : { learned: [], ...explicitRequirements(explicit) };
    const row = tem.create(
      WorkRequest,
      newWorkRequestRow({
        taskName: spec.task_name,
        subject: spec.subject ?? null,
        context: spec.context ?? null,
        taskData: { execution: spec.execution, use_history: spec.use_history },
        requirements: explicit,
        effective,
        learned: effective.learned,
        unschedulableReason: unschedulableReason(effective, await loadWorkerCapacities(tem)),
        stateReason: null,
        priority: spec.priority,
        priorityAdjustment: 0,
        attempt: 1,
        maxAttempts: spec.max_attempts,
        timeLimitS: spec.time_limit ?? null,
        interruptAllowed: spec.interrupt_allowed,
        userMetadata: spec.user_metadata,
      }),
    );
    await tem.flush();
    await notifyPendingWork(tem, 1);
    await notifyWorkRequestActivity(tem, row.id);
    return row;
  });
}
