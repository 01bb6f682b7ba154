import type { EntityManager } from '@mikro-orm/postgresql';
import { ADVISORY_LOCKS } from '../housekeeping/advisoryLock';
import { ESTIMATE_CHUNK, NONE } from '../sql/estimateChunks';

/** Chunks cleared per statement, and statements per run: a first run over a large backlog finishes at later runs. */
const BATCH = 2_000;
const MAX_BATCHES = 10;

/** How long a request that has ended keeps its last estimate (for a look at how far off it was). */
export const ENDED_ESTIMATE_KEEP_HOURS = 24;

/**
 * Estimate retention: the ETA pass stores an estimate for every pending and running request and never needs it
 * once the request has ended; estimates of requests that ended more than ENDED_ESTIMATE_KEEP_HOURS ago go, and
 * those of deleted requests (the chunks have no foreign key), so the table stays the size of the queue. A chunk
 * left with no estimate is deleted. Only while no estimates pass runs (it rewrites whole chunks from what it read):
 * under that lock, else left to the next run. Returns the number of estimates deleted.
 */
export async function pruneEstimates(em: EntityManager): Promise<number> {
  const [lock] = await em.execute<Array<{ locked: boolean }>>(`select pg_try_advisory_xact_lock(?) as locked`, [ADVISORY_LOCKS.estimates]);
  if (!lock?.locked) return 0;
  let deleted = 0;
  for (let batch = 0; batch < MAX_BATCHES; batch += 1) {
    const [row] = await em.execute<Array<{ chunks: string; deleted: string }>>(
      `with stored as (
         select c.chunk, s.slot, (r.id is null
           or (r.status in ('completed', 'aborted') and coalesce(r.completed_at, r.created_at) < now() - ?::float8 * interval '1 hour')) as ended
         from work_request_eta_chunk c
         cross join lateral generate_subscripts(c.reason_id, 1) s(slot)
         left join work_request r on r.id = c.chunk * ${ESTIMATE_CHUNK} + s.slot - 1
         where c.reason_id[s.slot] <> ${NONE}
       ), doomed as (
         select chunk, array_agg(slot) filter (where ended) as slots, bool_and(ended) as emptied
         from stored group by chunk having bool_or(ended) order by chunk limit ?
       ), removed as (
         delete from work_request_eta_chunk c using doomed d where c.chunk = d.chunk and d.emptied returning cardinality(d.slots) as count
       ), cleared as (
         update work_request_eta_chunk c set reason_id = array(
           select case when i = any(d.slots) then ${NONE} else c.reason_id[i] end from generate_subscripts(c.reason_id, 1) i order by i)
         from doomed d where c.chunk = d.chunk and not d.emptied returning cardinality(d.slots) as count
       )
       select (select count(*) from doomed) as chunks,
         coalesce((select sum(count) from removed), 0) + coalesce((select sum(count) from cleared), 0) as deleted`,
      [ENDED_ESTIMATE_KEEP_HOURS, BATCH],
    );
    deleted += Number(row?.deleted ?? 0);
    if (Number(row?.chunks ?? 0) < BATCH) break;
  }
  // Wordings no estimate uses any more (figures in them drift with every run).
  await em.execute(
    `delete from work_request_eta_reason d
     where d.id not in (select distinct x from work_request_eta_chunk c cross join lateral unnest(c.reason_id) x where x <> ${NONE})`,
  );
  return deleted;
}
