import type { EntityManager } from '@mikro-orm/postgresql';
import type { WorkRequest } from '../../entities';
import { ConflictError } from '../errors';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { CHANNELS } from '../notifications';
import { rawQuery } from '../sql/rawQuery';
import { supersedingAttemptsCtes } from '../sql/workflowTasks';
import { runWorkflowAgain } from './resumeWorkflow';
import { admissionStatus } from './admission';
import { settleWorkflow } from './settleWorkflow';
import { getWorkflowOrFail } from './workflowRow';

/**
 * A manual retry of a workflow task (POST /work-requests/:id/retry), inside the retry's transaction with the
 * workflow row locked first: a resume of that one task. Its new attempt, and a new attempt of every dependant
 * that was skipped because of it (transitively, through skipped tasks only), are blocked and superseding the
 * old ones; then the workflow is settled, so the task runs when its own dependencies allow (at once, usually)
 * and the dependants wait for it again. A workflow that had ended (FAILED, RESUMABLE, SUCCESSFUL) runs again
 * (or waits PENDING for a running slot) with its start_time and end_time cleared, as after a resume; a CANCELED
 * one is a 409 `workflow_canceled`. Answers the new attempt's id.
 */
export async function retryWorkflowTask(em: EntityManager, row: WorkRequest, by: string, policy: SchedulingPolicy): Promise<number> {
  const workflowId = row.workflowId as string;
  const workflow = await getWorkflowOrFail(em, workflowId, { lock: true });
  if (workflow.status === 'CANCELED') throw new ConflictError(`workflow ${workflowId} was canceled: its tasks cannot be retried`, 'workflow_canceled');
  const [created] = await rawQuery<{ retry_id: string; retried: string[] }>(
    em,
    `with recursive skipped (task_id) as (
       select ?::text
       union
       select d.task_id::text from skipped s
       join workflow_dependency e on e.workflow_id = ? and e.depends_on = s.task_id
       cross join lateral (select d.task_id from work_request d where d.workflow_id = e.workflow_id and d.task_id = e.task_id
         and d.task_id is not null and d.superseded_by_id is null and d.status = 'completed' and d.result = 'skipped' limit 1) d
     ), old as (
       select w.* from skipped s
       cross join lateral (select w.* from work_request w where w.workflow_id = ? and w.task_id = s.task_id
         and w.task_id is not null and w.superseded_by_id is null limit 1) w
     ), ${supersedingAttemptsCtes({
       // The retried task may go one attempt past max_attempts (as a plain retry); a dependant gets its attempts anew.
       maxAttempts: 'case when id = ? then greatest(max_attempts, attempt + 1) else attempt + max_attempts end',
       stateReason: `case when id = ? then 'retried by ' || ?::text || ': new attempt of #' || id
              else 'waiting again: "' || ?::text || '" was retried (new attempt of #' || id || ')' end`,
     })}
     select (select id from inserted where supersedes_id = ?) as retry_id, (select array_agg(task_id) from inserted) as retried,
       (select count(*) from notified) as notifications`,
    [row.taskId as string, workflowId, workflowId, row.id, row.id, by, row.taskId as string, CHANNELS.workRequestActivity, row.id],
  );
  if (['FAILED', 'RESUMABLE', 'SUCCESSFUL'].includes(workflow.status)) {
    await runWorkflowAgain(em, workflowId, await admissionStatus(em, policy), `task "${row.taskId}" retried`);
  }
  await settleWorkflow(em, workflowId, { candidates: created.retried }, policy);
  return Number(created.retry_id);
}
