import type { EntityManager } from '@mikro-orm/postgresql';
import type { Workflow } from '../../entities';
import { CHANNELS } from '../notifications';
import { supersedingAttemptsCtes } from '../sql/workflowTasks';
import { ConflictError } from '../errors';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { admissionStatus } from './admission';
import { settleWorkflow } from './settleWorkflow';
import { getWorkflowOrFail } from './workflowRow';
import { transactional } from '../transactional';

/** POST /workflows/:id/resume: see resumeLockedWorkflow. A CANCELED workflow is a 409 `workflow_canceled`. */
export async function resumeWorkflow(em: EntityManager, workflowId: string, policy: SchedulingPolicy): Promise<Workflow> {
  return transactional(em, async (tem) => {
    const workflow = await getWorkflowOrFail(tem, workflowId, { lock: true });
    await resumeLockedWorkflow(tem, workflow, policy);
    return getWorkflowOrFail(tem, workflowId);
  });
}

/**
 * Inside a transaction, the workflow locked: a FAILED or RESUMABLE workflow re-runs its failed, aborted and
 * skipped tasks as new attempts that supersede the old ones (a task that succeeded is never re-run; its result
 * is kept), with start_time and end_time cleared so the run gets new ones. Each new attempt gets as many
 * attempts again as the old one had. Any other status is left as it is (nothing to resume).
 */
export async function resumeLockedWorkflow(em: EntityManager, workflow: Workflow, policy: SchedulingPolicy): Promise<boolean> {
  if (workflow.status === 'CANCELED') throw new ConflictError(`workflow ${workflow.workflowId} was canceled: it cannot be resumed`, 'workflow_canceled');
  if (workflow.status !== 'FAILED' && workflow.status !== 'RESUMABLE') return false;
  const status = await admissionStatus(em, policy);
  await em.execute(
    `with old as (
       select * from work_request where workflow_id = ? and superseded_by_id is null and task_id is not null
         and (status = 'aborted' or result in ('failure', 'error', 'skipped'))
     ), ${supersedingAttemptsCtes({ maxAttempts: 'attempt + max_attempts', stateReason: `'resumed: new attempt of #' || id` })}
     select (select count(*) from inserted) as resumed, (select count(*) from notified) as notifications`,
    [workflow.workflowId, CHANNELS.workRequestActivity],
  );
  await runWorkflowAgain(em, workflow.workflowId, status, 'resumed');
  workflow.status = status;
  await settleWorkflow(em, workflow.workflowId, { allBlocked: true }, policy);
  return true;
}

/**
 * An ended workflow runs again (RUNNING, or PENDING for a running slot; `status` from admissionStatus) with its
 * start_time and end_time cleared, so the new run gets its own; `why` heads the PENDING one's reason.
 */
export async function runWorkflowAgain(em: EntityManager, workflowId: string, status: Workflow['status'], why: string): Promise<void> {
  await em.execute(
    `update workflow set status = ?, status_reason = ?, start_time = null, end_time = null, updated_at = now() where workflow_id = ?`,
    [status, status === 'PENDING' ? `${why}; waiting for a running slot (WORKSCHED_MAX_RUNNING_WORKFLOWS)` : null, workflowId],
  );
}

/** POST /workflows/resume-all: every RESUMABLE workflow (and FAILED ones with includeFailed), each in its own transaction. */
export async function resumeAllWorkflows(em: EntityManager, includeFailed: boolean, policy: SchedulingPolicy): Promise<Array<{ workflow_id: string; status: Workflow['status'] }>> {
  const statuses = includeFailed ? ['RESUMABLE', 'FAILED'] : ['RESUMABLE'];
  const rows = await em.execute<Array<{ workflow_id: string }>>(`select workflow_id from workflow where status in (?) order by created_at, workflow_id`, [statuses]);
  const resumed: Array<{ workflow_id: string; status: Workflow['status'] }> = [];
  for (const { workflow_id: workflowId } of rows) {
    const workflow = await transactional(em.fork(), async (tem) => {
      const locked = await getWorkflowOrFail(tem, workflowId, { lock: true });
      if (!statuses.includes(locked.status)) return null;
      await resumeLockedWorkflow(tem, locked, policy);
      return getWorkflowOrFail(tem, workflowId);
    });
    if (workflow) resumed.push({ workflow_id: workflowId, status: workflow.status });
  }
  return resumed;
}
