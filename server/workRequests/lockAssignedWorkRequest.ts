import type { EntityManager } from '@mikro-orm/postgresql';
import type { WorkRequest } from '../../entities';
import { NotAssignedError } from '../errors';
import { lockWorkRequest } from './lockWorkRequest';

/**
 * Inside a transaction: the request, row-locked, when `workerId` is its assigned worker (still, or last: a
 * finished request keeps its worker); a 409 `not_assigned` otherwise. With `orRequeued`, a request that went
 * back to pending (it has no worker now) is returned too, for a report that repeats a hand-back.
 */
export async function lockAssignedWorkRequest(
  em: EntityManager,
  id: number,
  workerId: number,
  options: { orRequeued?: boolean } = {},
): Promise<WorkRequest> {
  const row = await lockWorkRequest(em, id);
  if (row.worker?.id === workerId) return row;
  if (options.orRequeued && row.status === 'pending') return row;
  throw new NotAssignedError(id);
}
