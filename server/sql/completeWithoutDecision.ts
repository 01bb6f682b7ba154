import type { OutputData } from '../../protocol/outputData';
import type { SqlStatement } from './statement';
import { ATTEMPT_COST, historyFigures, historyOfCompletedAttempt, queueKeyIncrement } from './taskHistory';

/**
 * A `success` or `skipped` report for a request running on this worker, in one statement: the request
 * completed, its history row and counter increment written (unless it opted out of history); the caller
 * notifies followers after it. Answers the completed row with its worker's name, or nothing when the request is not running on
 * this worker or is a workflow task (the full path settles its workflow).
 */
export function completeWithoutDecisionStatement(
  id: number,
  workerId: number,
  report: { result: 'success' | 'skipped'; output_data: OutputData; stateReason: string | null },
): SqlStatement {
  const figures = historyFigures(report.output_data);
  const history = historyOfCompletedAttempt(figures);
  return {
    text: `with done as (
       update work_request w
         -- Millisecond precision, like every other timestamp the API shows.
         set status = 'completed', result = ?, output_data = ?::jsonb, completed_at = date_trunc('milliseconds', now()), state_reason = ?,
           cost = ${ATTEMPT_COST.replace('%duration', '?::float8')}
         from worker k
         -- Workflow tasks take the full path: their dependants and workflow status change in the same transaction.
         where w.id = ? and w.worker_id = ? and w.status = 'running' and w.workflow_id is null and k.id = w.worker_id
         returning w.*, k.name as worker_name, k.cpu_count as worker_cpu_count, k.total_memory as worker_total_memory
     ), recorded as (
       ${history.text}
     ), counted as (
       ${queueKeyIncrement('recorded')}
     )
     select done.* from done`,
    values: [report.result, JSON.stringify(report.output_data), report.stateReason, figures.durationMs, id, workerId, ...history.values],
  };
}
