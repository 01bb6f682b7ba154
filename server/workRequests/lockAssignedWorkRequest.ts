import type { EntityManager } from '@mikro-orm/postgresql';
import { WorkRequest } from '../../entities';
import { NotAssignedError, NotFoundError, PreemptedError } from '../errors';

/**
 * Inside a transaction: the request, row-locked, when `workerId` is its assigned worker (still, or last: a
 * finished request keeps its worker); a 409 `not_assigned` otherwise (`preempted` for a request preempted back to pending). With `orRequeued`, a request that went
 * back to pending (it has no worker now) is returned too, for a report that repeats a hand-back.
 * The row is read with plain SQL and mapped: log posts, the hottest caller, pay one round trip. The worker is
 * loaded only `withWorker`.
 */
export async function lockAssignedWorkRequest(
  em: EntityManager,
  id: number,
  workerId: number,
  options: { orRequeued?: boolean; withWorker?: boolean } = {},
): Promise<WorkRequest> {
  const rows = await em.execute<Array<Record<string, unknown>>>(`select * from work_request where id = ? for update`, [id]);
  if (!rows[0]) throw new NotFoundError(`work request ${id} does not exist`);
  const row = em.map(WorkRequest, rows[0]);
  const assigned = row.worker?.id === workerId || (options.orRequeued === true && row.status === 'pending');
  // A preempted request is pending again: its worker is told so distinctly, so it does not count it as a cancel.
  if (!assigned) throw row.status === 'pending' && row.preemptedAt ? new PreemptedError(id) : new NotAssignedError(id);
  if (options.withWorker && row.worker) await em.populate(row, ['worker']);
  return row;
}
