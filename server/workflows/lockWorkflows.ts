import type { EntityManager } from '@mikro-orm/postgresql';
import { Workflow } from '../../entities';
import { rawQuery } from '../sql/rawQuery';

/**
 * Lock order: a transaction that changes tasks of a workflow locks the workflow row first, then task rows; one
 * that locks several requests takes them in id order (lockWorkRequestsInOrder). So every change in a workflow
 * (completions, cancel, resume, adding tasks) is serialised on that row, a dependant's readiness and the
 * workflow's status are decided on a consistent view, and two of them never wait on each other in opposite
 * orders. Claims never lock a workflow (they only take pending rows, SKIP LOCKED). The exception: batched
 * successes in a plain RUNNING workflow take it FOR KEY SHARE and lock the dependants they decide instead
 * (settleCompletedTasks), so that they do not queue on it.
 *
 * Row locks are not fair: new KEY SHARE holders keep getting in while a FOR UPDATE waits, so a busy workflow could
 * keep a cancel waiting as long as completions overlap. Every workflow lock is therefore preceded by a
 * transaction-scoped advisory lock on the workflow (shared for KEY SHARE, exclusive for FOR UPDATE): PostgreSQL
 * queues those in order, so a new completion waits behind a waiting cancel.
 */

/** Advisory-lock class of the workflow gate (two-key form: apart from housekeeping's single-key locks). */
export const WORKFLOW_GATE_CLASS = 0x77731000;

/** The gate's statement for these workflow ids (a text[] parameter), taken in key order. */
function gateStatement(mode: 'shared' | 'exclusive'): string {
  const lock = mode === 'shared' ? 'pg_advisory_xact_lock_shared' : 'pg_advisory_xact_lock';
  return `select ${lock}(${WORKFLOW_GATE_CLASS}, hashtext(id)) from (select distinct unnest(?::text[]) as id order by 1) ids`;
}

/** Inside a transaction: the gate on these workflows (see above), before their rows are locked. */
export async function gateWorkflows(em: EntityManager, workflowIds: string[], mode: 'shared' | 'exclusive'): Promise<void> {
  if (workflowIds.length > 0) await rawQuery(em, gateStatement(mode), [workflowIds]);
}

/** Inside a transaction: locks the workflows of these work requests (workflow_id never changes), in key order. */
export async function lockWorkflowsOfRequests(em: EntityManager, ids: number[]): Promise<string[]> {
  if (ids.length === 0) return [];
  await em.execute(
    `select pg_advisory_xact_lock(${WORKFLOW_GATE_CLASS}, hashtext(workflow_id))
     from (select distinct r.workflow_id from work_request r where r.id = any(array[?]::bigint[]) and r.workflow_id is not null order by 1) ids`,
    [ids],
  );
  const rows = await em.execute<Array<{ workflow_id: string }>>(
    `select f.workflow_id from workflow f
     where f.workflow_id in (select r.workflow_id from work_request r where r.id = any(array[?]::bigint[]) and r.workflow_id is not null)
     order by f.workflow_id for update of f`,
    [ids],
  );
  return rows.map((row) => row.workflow_id);
}

/**
 * Inside a transaction: locks these workflows (ids read beforehand, e.g. by dependantsOfRequestsStatement), in key
 * order; their rows. `shared`: FOR KEY SHARE, for completions that settle with settleCompletedTasks — it excludes
 * every FOR UPDATE holder (cancel, resume, adding tasks, delete, other completions) but not other such completions.
 */
export async function lockWorkflows(em: EntityManager, workflowIds: string[], options: { shared?: boolean } = {}): Promise<Workflow[]> {
  if (workflowIds.length === 0) return [];
  // The gate in the same statement (an init plan, run before the scan): one round trip on the completion path.
  const rows = await rawQuery<Record<string, unknown>>(
    em,
    `with gate as (${gateStatement(options.shared ? 'shared' : 'exclusive')})
     select * from workflow where workflow_id = any(?::text[]) and (select count(*) from gate) >= 0
     order by workflow_id for ${options.shared ? 'key share' : 'update'}`,
    [workflowIds, workflowIds],
  );
  return rows.map((row) => em.map(Workflow, row));
}

/**
 * The last lock a shared-lock completion takes (settleCompletedTasks), to decide its workflow's status: FOR NO KEY
 * UPDATE queues it behind other completions deciding theirs, yet not behind their KEY SHARE (no upgrade deadlock).
 */
export async function lockWorkflowForStatus(em: EntityManager, workflowId: string): Promise<Workflow> {
  const rows = await rawQuery<Record<string, unknown>>(em, `select * from workflow where workflow_id = ? for no key update`, [workflowId]);
  return em.map(Workflow, rows[0]);
}

/**
 * For housekeeping that already holds a task's row (lost workers): takes the workflow's lock only if it is free
 * right now, so it never waits against the lock order; false means "leave this task for the next pass".
 */
export async function tryLockWorkflow(em: EntityManager, workflowId: string): Promise<boolean> {
  // The gate too, and first: a later lock of this workflow in the same transaction finds it held, never waits for it
  // while holding the row (a completion holding the gate shared may be waiting for the row).
  const gated = await em.execute<Array<{ gated: boolean }>>(`select pg_try_advisory_xact_lock(${WORKFLOW_GATE_CLASS}, hashtext(?)) as gated`, [workflowId]);
  if (!gated[0]?.gated) return false;
  const rows = await em.execute<unknown[]>(`select 1 from workflow where workflow_id = ? for update skip locked`, [workflowId]);
  return rows.length > 0;
}
