import type { Pool } from 'pg';
import type { WorkRequest } from '../../entities';
import type { TaskSpec } from '../../protocol/taskSpec';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { createWorkRequests } from './createWorkRequests';

/**
 * Stores a validated task spec as a pending work request: a batch of one (createWorkRequests), so both create
 * routes learn, check and insert the same way: one guarded prepared statement when nothing is learned and a
 * worker fits, else three.
 */
export async function createWorkRequest(pool: Pool, spec: TaskSpec, policy: SchedulingPolicy): Promise<WorkRequest> {
  const [row] = await createWorkRequests(pool, [spec], policy);
  return row;
}
