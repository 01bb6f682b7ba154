import type { EntityManager } from '@mikro-orm/postgresql';
import type { Workflow } from '../../entities';
import { ConflictError } from '../errors';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { CHANNELS } from '../notifications';
import { notifyIdsOf } from '../sql/workflowTasks';
import { admitWorkflows } from './admission';
import { settleWorkflow } from './settleWorkflow';
import { getWorkflowOrFail } from './workflowRow';
import { transactional } from '../transactional';

/**
 * POST /workflows/:id/cancel, in one transaction: blocked and pending tasks aborted, running ones aborted too
 * (their workers learn it from the next heartbeat, at most ~1 s away, and kill them: the existing cancel path),
 * the workflow CANCELED without an end_time (Ray). Cancelling again changes nothing; a SUCCESSFUL workflow
 * has nothing to cancel and stays as it is.
 */
export async function cancelWorkflow(em: EntityManager, workflowId: string, by: string, policy: SchedulingPolicy): Promise<Workflow> {
  return transactional(em, async (tem) => {
    const workflow = await getWorkflowOrFail(tem, workflowId, { lock: true });
    if (workflow.status === 'CANCELED' || workflow.status === 'SUCCESSFUL') return workflow;
    // Its requests in id order, as every transaction that locks several requests takes them (the update below
    // would take them in scan order).
    await tem.execute(`select id from work_request where workflow_id = ? and status in ('blocked', 'pending', 'running') order by id for update`, [workflowId]);
    await tem.execute(
      `with aborted as (
         update work_request set status = 'aborted', completed_at = date_trunc('milliseconds', now()),
           state_reason = case when status = 'running' then 'workflow cancelled by ' || ? || ' while running; the worker was told to stop it'
                               else 'workflow cancelled by ' || ? || ' before it started' end
         where workflow_id = ? and status in ('blocked', 'pending', 'running')
         returning id
       ), notified as (${notifyIdsOf('aborted')})
       select count(*) from notified`,
      [by, by, workflowId, CHANNELS.workRequestActivity],
    );
    await tem.execute(
      `update workflow set status = 'CANCELED', status_reason = ?, end_time = null, updated_at = now() where workflow_id = ?`,
      [`cancelled by ${by}`, workflowId],
    );
    if (workflow.status === 'RUNNING') await admitWorkflows(tem, policy);
    return getWorkflowOrFail(tem, workflowId);
  });
}

/** DELETE /workflows/:id: the workflow, its requests and their logs (task history stays); 409 `workflow_active` while PENDING or RUNNING. */
export async function deleteWorkflow(em: EntityManager, workflowId: string): Promise<void> {
  await transactional(em, async (tem) => {
    const workflow = await getWorkflowOrFail(tem, workflowId, { lock: true });
    if (workflow.status === 'PENDING' || workflow.status === 'RUNNING') {
      throw new ConflictError(`workflow ${workflowId} is ${workflow.status}: cancel it or wait for it to end before deleting it`, 'workflow_active');
    }
    // No foreign keys (see the migration): the requests (their log chunks cascade), the edges, the workflow.
    await tem.execute(`delete from work_request where workflow_id = ?`, [workflowId]);
    await tem.execute(`delete from workflow_dependency where workflow_id = ?`, [workflowId]);
    await tem.execute(`delete from workflow where workflow_id = ?`, [workflowId]);
  });
}

/** POST /workflows/:id/close: no more tasks; the workflow ends once its tasks are done (maybe at once). */
export async function closeWorkflow(em: EntityManager, workflowId: string, policy: SchedulingPolicy): Promise<Workflow> {
  return transactional(em, async (tem) => {
    const workflow = await getWorkflowOrFail(tem, workflowId, { lock: true });
    if (!workflow.open) return workflow;
    await tem.execute(`update workflow set open = false, updated_at = now() where workflow_id = ?`, [workflowId]);
    await settleWorkflow(tem, workflowId, {}, policy);
    return getWorkflowOrFail(tem, workflowId);
  });
}
