import type { Pool } from 'pg';

/**
 * Workflow tasks this process handed out lately, by database pool: their batched completion skips the plain
 * requests' quick transaction (completeRunningBatch), which would only find them not plain and roll back — three
 * round trips for nothing in every batch of a workflow drain. Ids are never reused, so the set only ever holds
 * workflow tasks; one claimed elsewhere (another replica, an evicted id) costs that quick try as before.
 */
const REMEMBERED = 20_000;
const byPool = new WeakMap<Pool, Set<number>>();

export function rememberWorkflowTasks(pool: Pool, ids: number[]): void {
  if (ids.length === 0) return;
  let known = byPool.get(pool);
  if (!known) byPool.set(pool, (known = new Set()));
  for (const id of ids) known.add(id);
  // A Set iterates in insertion order: the oldest go first.
  for (const id of known) {
    if (known.size <= REMEMBERED) break;
    known.delete(id);
  }
}

export function anyKnownWorkflowTask(pool: Pool, ids: number[]): boolean {
  const known = byPool.get(pool);
  return known !== undefined && ids.some((id) => known.has(id));
}
