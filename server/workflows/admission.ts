import type { EntityManager } from '@mikro-orm/postgresql';
import { HttpError } from '../errors';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { settleWorkflow } from './settleWorkflow';

/** Advisory-lock key of workflow admission (a key apart from the claim's two-int class and housekeeping's). */
const ADMISSION_LOCK = 0x77667761;

/**
 * Inside a transaction: RUNNING, or PENDING when WORKSCHED_MAX_RUNNING_WORKFLOWS are running already; a 429
 * `queue_full` when WORKSCHED_MAX_PENDING_WORKFLOWS are waiting too. Serialised by an advisory lock, taken
 * after any workflow row lock (the lock order).
 */
export async function admissionStatus(em: EntityManager, policy: SchedulingPolicy): Promise<'RUNNING' | 'PENDING'> {
  const { maxRunning, maxPending } = policy.workflows;
  if (maxRunning === null) return 'RUNNING';
  await em.execute(`select pg_advisory_xact_lock(?)`, [ADMISSION_LOCK]);
  const [counts] = await em.execute<Array<{ running: string; pending: string }>>(
    `select count(*) filter (where status = 'RUNNING') as running, count(*) filter (where status = 'PENDING') as pending
     from workflow where status in ('RUNNING', 'PENDING')`,
  );
  if (Number(counts.running) < maxRunning) return 'RUNNING';
  if (maxPending !== null && Number(counts.pending) >= maxPending) {
    throw new HttpError('queue_full', `${counts.running} workflows are running (WORKSCHED_MAX_RUNNING_WORKFLOWS=${maxRunning}) and ${counts.pending} are waiting (WORKSCHED_MAX_PENDING_WORKFLOWS=${maxPending}): try again later`);
  }
  return 'PENDING';
}

/** Inside a transaction where a workflow ended: PENDING workflows take the running slots that are free, oldest first. */
export async function admitWorkflows(em: EntityManager, policy: SchedulingPolicy): Promise<void> {
  const { maxRunning } = policy.workflows;
  if (maxRunning === null) return;
  await em.execute(`select pg_advisory_xact_lock(?)`, [ADMISSION_LOCK]);
  const [{ running }] = await em.execute<Array<{ running: string }>>(`select count(*) as running from workflow where status = 'RUNNING'`);
  const slots = maxRunning - Number(running);
  if (slots <= 0) return;
  const admitted = await em.execute<Array<{ workflow_id: string }>>(
    `update workflow set status = 'RUNNING', status_reason = null, updated_at = now()
     where workflow_id in (select workflow_id from workflow where status = 'PENDING' order by created_at, workflow_id limit ? for update skip locked)
     returning workflow_id`,
    [slots],
  );
  for (const { workflow_id: workflowId } of admitted) await settleWorkflow(em, workflowId, { allBlocked: true }, policy);
}
