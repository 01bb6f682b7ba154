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
