import type { EntityManager } from '@mikro-orm/postgresql';
import { WorkRequest } from '../../entities';
import { createRetryAttempt } from '../history/createRetryAttempt';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { ConflictError } from '../errors';
import { lockWorkflowsOfRequests } from '../workflows/lockWorkflows';
import { retryWorkflowTask } from '../workflows/retryWorkflowTask';
import { lockWorkRequest } from './lockWorkRequest';
import { appendSystemLogLine } from './logEntries';
import { notifyWorkRequestActivity } from './notifyChanges';
import { transactional } from '../transactional';

/**
 * A retry asked for by hand (debusine's "retry", GitLab's "Retry job"): a request that ended without success —
 * failure, error, skipped or aborted — gets a new attempt that supersedes it, made by the same machinery as an
 * automatic retry (requirements learned afresh, a raised memory requirement carried over), pending at once.
 * It may go one attempt past max_attempts: history does not retry that one again. A request still to run or
 * running, one that succeeded, and one already retried are a 409. A workflow task is retried as a resume of
 * that task (retryWorkflowTask): the workflow runs again and the dependants it skipped wait for it again.
 */
export async function retryWorkRequest(em: EntityManager, id: number, by: string, policy: SchedulingPolicy): Promise<WorkRequest> {
  return transactional(em, async (tem) => {
    // Lock order: the request's workflow (if any) before the request's row (see lockWorkflows).
    await lockWorkflowsOfRequests(tem, [id]);
    const row = await lockWorkRequest(tem, id);
    if (row.status !== 'completed' && row.status !== 'aborted') {
      throw new ConflictError(`work request ${id} is ${row.status}: only one that has ended without success can be retried`, 'not_retryable');
    }
    if (row.result === 'success') throw new ConflictError(`work request ${id} succeeded: there is nothing to retry`, 'not_retryable');
    if (row.supersededById !== null && row.supersededById !== undefined) {
      throw new ConflictError(`work request ${id} was already retried as #${row.supersededById}: retry the newest attempt instead`, 'already_retried');
    }
    const outcome = row.status === 'aborted' ? 'aborted' : row.result;
    if (row.workflowId && row.taskId) {
      const retryId = await retryWorkflowTask(tem, row, by, policy);
      const retry = await tem.findOneOrFail(WorkRequest, { id: retryId }, { refresh: true });
      await appendSystemLogLine(tem, row.id, `retried by ${by} as #${retry.id} (attempt ${retry.attempt} of ${retry.maxAttempts})`);
      return retry;
    }
    const retry = await createRetryAttempt(
      tem,
      row,
      { kind: 'retry', delayS: 0, reason: `retried by ${by} after it ended ${outcome}` },
      { headroom: policy.headroom, sampleRuns: policy.sampleRuns, maxAttempts: row.attempt + 1 },
    );
    await appendSystemLogLine(tem, row.id, `retried by ${by} as #${retry.id} (attempt ${retry.attempt} of ${retry.maxAttempts})`);
    // Whoever waits on the old attempt (submit --wait, waitFor) sees superseded_by and follows it.
    await notifyWorkRequestActivity(tem, row.id);
    return retry;
  });
}
