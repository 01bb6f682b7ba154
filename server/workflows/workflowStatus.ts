import type { EntityManager } from '@mikro-orm/postgresql';
import type { Workflow } from '../../entities';
import { ERROR_CODES } from '../../protocol/outputData';
import type { WorkflowStatus } from '../../protocol/workflow';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { admitWorkflows } from './admission';

/** Causes outside the task's own program: the workflow is RESUMABLE, not FAILED (a resume may well succeed). */
const SYSTEM_ERROR_CODES: ReadonlySet<string> = new Set([ERROR_CODES.workerLost, ERROR_CODES.workerShutdown, ERROR_CODES.spawnFailed]);

const FINAL: ReadonlySet<WorkflowStatus> = new Set(['SUCCESSFUL', 'FAILED', 'RESUMABLE', 'CANCELED']);

/**
 * Derives the workflow's status from its tasks' current attempts and stores it (inside the transaction of the
 * change, the workflow row locked). RUNNING while any task is blocked, pending or running, or while it is
 * open; then SUCCESSFUL when every task succeeded, was skipped or failed with allow_failure; FAILED when a
 * task's own program failed (or it was cancelled on its own); RESUMABLE when only system causes stopped it
 * (worker lost, worker shutdown, a worker fault). end_time is set when it ends. A workflow that ends frees a
 * running slot: PENDING ones are admitted.
 */
export async function updateWorkflowStatus(em: EntityManager, workflow: Workflow, policy: SchedulingPolicy, knownActive = false): Promise<WorkflowStatus> {
  if (workflow.status === 'CANCELED' || workflow.status === 'PENDING') return workflow.status;
  // `knownActive`: the caller has just left tasks blocked or pending (one statement fewer in every completion).
  // An open workflow (a run being fed) stays RUNNING whatever its tasks do: no need to look. A run's history of
  // a million attempts ahead of its pending rows would make that look a scan of them on every completion.
  const active = knownActive || workflow.open || (await em.execute<Array<{ active: boolean }>>(
    `select exists (select 1 from work_request where workflow_id = ? and status in ('blocked', 'pending', 'running')) as active`,
    [workflow.workflowId],
  ))[0].active;
  let status: WorkflowStatus = 'RUNNING';
  let reason: string | null = null;
  if (!active && !workflow.open) ({ status, reason } = await finalStatus(em, workflow.workflowId));
  if (status === workflow.status && (status === 'RUNNING' || workflow.endTime)) return status;
  const ended = FINAL.has(status);
  await em.execute(
    `update workflow set status = ?, status_reason = ?, end_time = ${ended ? `date_trunc('milliseconds', now())` : 'null'}, updated_at = now() where workflow_id = ?`,
    [status, reason, workflow.workflowId],
  );
  workflow.status = status;
  if (ended) await admitWorkflows(em, policy);
  return status;
}

async function finalStatus(em: EntityManager, workflowId: string): Promise<{ status: WorkflowStatus; reason: string | null }> {
  const failed = await em.execute<Array<{ task_id: string; status: string; result: string | null; code: string | null }>>(
    `select task_id, status, result, output_data -> 'errors' -> 0 ->> 'code' as code from work_request
     where workflow_id = ? and superseded_by_id is null and not allow_failure and (status = 'aborted' or result in ('failure', 'error'))
     order by id limit 100`,
    [workflowId],
  );
  if (failed.length === 0) return { status: 'SUCCESSFUL', reason: null };
  const own = failed.find((task) => !task.code || !SYSTEM_ERROR_CODES.has(task.code));
  if (own) return { status: 'FAILED', reason: `task "${own.task_id}" ${own.status === 'aborted' ? 'was aborted' : `failed (${own.result}${own.code ? `: ${own.code}` : ''})`}` };
  const first = failed[0];
  return { status: 'RESUMABLE', reason: `task "${first.task_id}" was stopped by ${first.code}: resume to run it again` };
}
