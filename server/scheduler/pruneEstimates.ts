import type { EntityManager } from '@mikro-orm/postgresql';
import { ADVISORY_LOCKS } from '../housekeeping/advisoryLock';

/** Rows deleted per statement, and statements per run: a first run over a large backlog finishes at later runs. */
const BATCH = 10_000;
const MAX_BATCHES = 10;

/** How long a request that has ended keeps its last estimate (for a look at how far off it was). */
export const ENDED_ESTIMATE_KEEP_HOURS = 24;

/**
 * Estimate retention: the ETA pass writes a work_request_eta row for every pending and running request and
 * never needs it once the request has ended; rows of requests that ended more than ENDED_ESTIMATE_KEEP_HOURS
 * ago go, and those of deleted requests (the table has no foreign key), so it stays the size of the queue. Returns the number of rows deleted.
 */
export async function pruneEstimates(em: EntityManager): Promise<number> {
  let deleted = 0;
  for (let batch = 0; batch < MAX_BATCHES; batch += 1) {
    const rows = await em.execute<Array<{ work_request_id: string }>>(
      `with doomed as (
         select e.work_request_id from work_request_eta e left join work_request r on r.id = e.work_request_id
         where r.id is null
           or (r.status in ('completed', 'aborted') and coalesce(r.completed_at, r.created_at) < now() - ?::float8 * interval '1 hour')
         limit ?
       )
       delete from work_request_eta e using doomed d where e.work_request_id = d.work_request_id
       returning e.work_request_id`,
      [ENDED_ESTIMATE_KEEP_HOURS, BATCH],
    );
    deleted += rows.length;
    if (rows.length < BATCH) break;
  }
  await pruneReasons(em);
  return deleted;
}

/**
 * Wordings no estimate uses any more (figures in them drift with every run). Only while no estimates pass runs (it
 * holds this lock from reading ids to writing rows that use them), else left to the next time.
 */
async function pruneReasons(em: EntityManager): Promise<void> {
  const [lock] = await em.execute<Array<{ locked: boolean }>>(`select pg_try_advisory_xact_lock(?) as locked`, [ADVISORY_LOCKS.estimates]);
  if (!lock?.locked) return;
  await em.execute(`delete from work_request_eta_reason d where not exists (select from work_request_eta e where e.eta_reason_id = d.id)`);
}
