import type { HistoryLevel } from '../history/historyKey';
import type { SqlStatement } from './statement';

/**
 * One row: whether a key level has runs outside this request's own retry chain (earlier attempts it
 * supersedes, requeues of the same row), and the work request of its newest success (decideAfterFailure).
 */
export function earlierSuccessQuery(workRequestId: number, level: HistoryLevel): SqlStatement {
  return {
    text: `with recursive chain (id) as (
         select ?::bigint
         union all
         select w.supersedes_id from work_request w join chain c on w.id = c.id where w.supersedes_id is not null
       )
       select exists (select 1 from task_history where ${level.where} and (work_request_id is null or work_request_id not in (select id from chain))) as any_runs,
         (select work_request_id from task_history where ${level.where} and result = 'success' order by completed_at desc limit 1) as work_request_id`,
    values: [workRequestId, ...level.params, ...level.params],
  };
}
