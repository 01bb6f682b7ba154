import type { EntityManager } from '@mikro-orm/postgresql';
import type { WorkRequest } from '../../entities';
import { recordTaskHistory } from '../history/recordTaskHistory';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { settleWorkflow } from '../workflows/settleWorkflow';
import { appendSystemLogLine } from './logEntries';
import { notifyPendingWork, notifyWorkRequestActivity } from './notifyChanges';

/**
 * Inside a transaction, on a locked running request whose worker is gone or gave it back: back to pending as
 * a new attempt when it may be interrupted and has attempts left, otherwise aborted with `errorCode`.
 * Either way a `system` log line says why. A workflow task's caller must hold its workflow's lock.
 */
export async function requeueOrAbortRunning(
  em: EntityManager,
  row: WorkRequest,
  why: string,
  errorCode: string,
  policy: SchedulingPolicy,
): Promise<'requeued' | 'aborted'> {
  // The interrupted attempt counts: it goes into the history as an error with the infrastructure's code.
  row.completedAt = new Date();
  await recordTaskHistory(em, row, 'error', { ...(row.outputData ?? {}), errors: [{ code: errorCode, message: why }] });
  row.completedAt = null;
  const attemptsLeft = row.attempt < row.maxAttempts;
  if (row.interruptAllowed && attemptsLeft) {
    row.status = 'pending';
    row.worker = null;
    row.startedAt = null;
    row.attempt += 1;
    row.stateReason = `${why}; requeued as attempt ${row.attempt} of ${row.maxAttempts}`;
    await em.flush();
    await appendSystemLogLine(em, row.id, row.stateReason);
    await notifyPendingWork(em, 1);
    await notifyWorkRequestActivity(em, row.id);
    return 'requeued';
  }
  const because = row.interruptAllowed ? `no attempts left (${row.attempt} of ${row.maxAttempts})` : 'interrupt_allowed is false';
  row.status = 'aborted';
  row.result = 'error';
  row.completedAt = new Date();
  row.stateReason = `${why}; aborted: ${because}`;
  row.outputData = { ...(row.outputData ?? {}), errors: [{ code: errorCode, message: row.stateReason }] };
  await em.flush();
  await appendSystemLogLine(em, row.id, row.stateReason);
  await notifyWorkRequestActivity(em, row.id);
  // The caller holds the workflow's lock (lockWorkflows): its dependants are skipped, its status may turn RESUMABLE.
  if (row.workflowId && row.taskId) await settleWorkflow(em, row.workflowId, { finished: [row.taskId] }, policy);
  return 'aborted';
}
