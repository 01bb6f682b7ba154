import type { EntityManager } from '@mikro-orm/postgresql';
import { WorkRequestEta } from '../../entities';

/** The stored estimates (expected start / end and why) of these requests, by id; requests without one are absent. */
export async function findEstimates(em: EntityManager, ids: number[]): Promise<Map<number, WorkRequestEta>> {
  if (ids.length === 0) return new Map();
  const rows = await em.find(WorkRequestEta, { workRequestId: { $in: ids } });
  return new Map(rows.map((row) => [row.workRequestId, row]));
}
