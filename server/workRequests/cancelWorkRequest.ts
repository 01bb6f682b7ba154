import type { EntityManager } from '@mikro-orm/postgresql';
import type { WorkRequest } from '../../entities';
import { ConflictError } from '../errors';
import type { EndedAttempt } from '../metrics';
import { endedAttemptOf } from './endedAttempt';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { lockWorkflowsOfRequests } from '../workflows/lockWorkflows';
import { settleWorkflow } from '../workflows/settleWorkflow';
import { lockWorkRequest } from './lockWorkRequest';
import { notifyWorkRequestActivity } from './notifyChanges';
import { transactional } from '../transactional';

/**
 * pending/blocked → aborted at once. running → aborted at once too; its worker learns it from its next
 * heartbeat or log post (both answer with the cancelled ids) and kills the task. Cancelling an aborted
 * request again is a no-op; a completed one cannot be cancelled. A request this call ended is added to
 * `ended` once committed (for the metrics).
 */
export async function cancelWorkRequest(em: EntityManager, id: number, by: string, policy: SchedulingPolicy, ended?: EndedAttempt[]): Promise<WorkRequest> {
  let endedHere: EndedAttempt | null = null;
  const cancelled = await transactional(em, async (tem) => {
    endedHere = null;
    await lockWorkflowsOfRequests(tem, [id]);
    const row = await lockWorkRequest(tem, id);
    if (row.status === 'aborted') return row;
    if (row.status === 'completed') {
      throw new ConflictError(`work request ${id} already completed (${row.result}); nothing to cancel`, 'already_completed');
    }
    const wasRunning = row.status === 'running';
    row.status = 'aborted';
    row.completedAt = new Date();
    row.stateReason = wasRunning
      ? `cancelled by ${by} while running on ${row.worker?.name ?? 'a worker'}; the worker was told to stop it`
      : `cancelled by ${by} before it started`;
    await tem.flush();
    await notifyWorkRequestActivity(tem, id);
    endedHere = endedAttemptOf(row);
    // A workflow task's dependants are skipped; its workflow may end (FAILED: a user stopped a task of it).
    if (row.workflowId && row.taskId) await settleWorkflow(tem, row.workflowId, { finished: [row.taskId] }, policy);
    return row;
  });
  if (endedHere) ended?.push(endedHere);
  return cancelled;
}
