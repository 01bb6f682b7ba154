import type { EntityManager } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import type { OutputData } from '../../protocol/outputData';
import type { WorkRequestResult } from '../../protocol/workRequest';
import type { WorkRequest } from '../../entities';
import type { EndedAttempt } from '../metrics';
import { createRetryAttempt } from '../history/createRetryAttempt';
import { decideAfterFailure } from '../history/decideAfterFailure';
import { recordTaskHistory } from '../history/recordTaskHistory';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { ConflictError } from '../errors';
import { lockAssignedWorkRequest } from './lockAssignedWorkRequest';
import { completeWithoutDecision } from './completeWithoutDecision';
import { endedAttemptOf } from './endedAttempt';
import { appendSystemLogLine } from './logEntries';
import { notifyWorkRequestActivity } from './notifyChanges';
import { lockWorkflowsOfRequests } from '../workflows/lockWorkflows';
import { settleWorkflow } from '../workflows/settleWorkflow';
import { attemptCost, bookRunCosts } from '../runs/bookRunCosts';
import { checkRunBudgets } from '../runs/runBudgets';
import { historyFigures } from '../sql/taskHistory';
import { transactional } from '../transactional';

/**
 * The assigned worker reports the result, and in the same transaction: the attempt goes into the task history
 * and, when it failed, history decides whether the failure is final or a new attempt supersedes it. A success
 * or skip on a running request takes the one-statement path (completeWithoutDecision).
 * Idempotent: a repeated report (e.g. re-sent after a lost answer) is answered 200 and changes nothing. A
 * request cancelled while running stays aborted but keeps the statistics of the killed run. Any other worker
 * gets a 409. `ended` is set when this report is the one that ended the request (for the metrics).
 */
export async function completeWorkRequest(
  em: EntityManager,
  pool: Pool,
  id: number,
  workerId: number,
  report: { result: WorkRequestResult; output_data: OutputData },
  policy: SchedulingPolicy,
): Promise<{ row: WorkRequest; worker: { id: number; name: string } | null; ended: EndedAttempt | null }> {
  if (report.result === 'success' || report.result === 'skipped') {
    const done = await completeWithoutDecision(em, pool, id, workerId, { result: report.result, output_data: report.output_data });
    if (done) return { ...done, ended: endedAttemptOf(done.row, report.output_data) };
  }
  const ended: EndedAttempt[] = [];
  const row = await completeWithDecision(em, id, workerId, report, policy, ended);
  if (row.workflowId) await checkRunBudgets(em, [row.workflowId], policy);
  return { row, worker: row.worker ?? null, ended: ended[0] ?? null };
}

/**
 * The full path (inside or outside a transaction): row-locked, every case answered — repeat reports 200,
 * another worker's 409, unknown 404 — and failures decided. A report that ends the request adds it to `ended`.
 */
export async function completeWithDecision(
  em: EntityManager,
  id: number,
  workerId: number,
  report: { result: WorkRequestResult; output_data: OutputData },
  policy: SchedulingPolicy,
  ended?: EndedAttempt[],
): Promise<WorkRequest> {
  let endedHere: EndedAttempt | null = null;
  const completed = await transactional(em, async (tem) => {
    endedHere = null;
    await lockWorkflowsOfRequests(tem, [id]);
    const row = await lockAssignedWorkRequest(tem, id, workerId, { withWorker: true });
    if (row.status === 'completed') return row;
    if (row.status === 'aborted') {
      if (!row.outputData) {
        // The killed run cost what it ran for: booked like a completion.
        row.outputData = report.output_data;
        row.cost = attemptCost(row.worker?.costPerHour, Number(historyFigures(report.output_data).durationMs ?? Number.NaN));
        await tem.flush();
        if (row.workflowId) await bookRunCosts(tem, [row.id]);
      }
      return row;
    }
    if (row.status !== 'running') {
      throw new ConflictError(`work request ${id} is ${row.status}, not running`, 'not_running');
    }
    row.status = 'completed';
    row.result = report.result;
    row.outputData = report.output_data;
    row.completedAt = new Date();
    row.stateReason = describeCompletion(report);
    row.cost = attemptCost(row.worker?.costPerHour, Number(historyFigures(report.output_data).durationMs ?? Number.NaN));
    await tem.flush();
    if (row.workflowId) await bookRunCosts(tem, [row.id]);
    await recordTaskHistory(tem, row, report.result, report.output_data);
    if (report.result === 'failure' || report.result === 'error') {
      const decision = await decideAfterFailure(tem, row, report.output_data, policy.retry);
      if (decision.kind === 'retry') {
        const retry = await createRetryAttempt(tem, row, decision, { headroom: policy.headroom, sampleRuns: policy.sampleRuns });
        row.stateReason = `${row.stateReason}; ${decision.reason} as #${retry.id} (attempt ${retry.attempt} of ${retry.maxAttempts}) after ${decision.delayS}s`;
      } else {
        row.stateReason = `${row.stateReason}; ${decision.reason}`;
      }
      await tem.flush();
      await appendSystemLogLine(tem, row.id, row.stateReason);
    }
    if (row.workflowId && row.taskId) await settleWorkflow(tem, row.workflowId, { finished: [row.taskId] }, policy);
    await notifyWorkRequestActivity(tem, id);
    endedHere = endedAttemptOf(row, report.output_data);
    return row;
  });
  if (endedHere) ended?.push(endedHere);
  return completed;
}

export function describeCompletion(report: { result: WorkRequestResult; output_data: OutputData }): string | null {
  if (report.result === 'success') return null;
  if (report.result === 'skipped') return report.output_data.skip_reason ? `skipped: ${report.output_data.skip_reason}` : 'skipped';
  const first = report.output_data.errors?.[0];
  return first ? `${report.result}: ${first.message}` : report.result;
}
