import type { EntityManager } from '@mikro-orm/postgresql';
import { ERROR_CODES, type OutputData } from '../../protocol/outputData';
import type { WorkRequest } from '../../entities';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { lockWorkflowsOfRequests } from '../workflows/lockWorkflows';
import { lockAssignedWorkRequest } from './lockAssignedWorkRequest';
import { requeueOrAbortRunning } from './requeueWorkRequest';
import { transactional } from '../transactional';

/**
 * The assigned worker hands a running request back (it is shutting down and killed the task): a new attempt
 * when it may be interrupted, aborted with `worker_shutdown` otherwise. Idempotent like completion.
 */
export async function releaseWorkRequest(
  em: EntityManager,
  id: number,
  workerId: number,
  report: { reason: string; output_data: OutputData },
  policy: SchedulingPolicy,
): Promise<WorkRequest> {
  return transactional(em, async (tem) => {
    await lockWorkflowsOfRequests(tem, [id]);
    const row = await lockAssignedWorkRequest(tem, id, workerId, { orRequeued: true, withWorker: true });
    // Already requeued (a repeated report), cancelled or finished: nothing to do.
    if (row.status !== 'running' || !row.worker) return row;
    row.outputData = report.output_data;
    await requeueOrAbortRunning(tem, row, `worker ${row.worker.name} gave it back: ${report.reason}`, ERROR_CODES.workerShutdown, policy);
    return row;
  });
}
