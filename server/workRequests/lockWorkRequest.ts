import { LockMode, type EntityManager } from '@mikro-orm/postgresql';
import { WorkRequest } from '../../entities';
import { NotFoundError } from '../errors';

/** Inside a transaction: the request, row-locked for the rest of it. */
export async function lockWorkRequest(em: EntityManager, id: number): Promise<WorkRequest> {
  const row = await em.findOne(WorkRequest, { id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
  if (!row) throw new NotFoundError(`work request ${id} does not exist`);
  await em.populate(row, ['worker']);
  return row;
}

/**
 * Inside a transaction: row-locks these requests (those that exist) in id order. Transactions that lock several
 * requests take them in this one order, so two of them never wait on each other in opposite orders.
 */
export async function lockWorkRequestsInOrder(em: EntityManager, ids: number[]): Promise<void> {
  if (ids.length <= 1) return;
  await em.execute(`select id from work_request where id = any(array[?]::bigint[]) order by id for update`, [ids]);
}
