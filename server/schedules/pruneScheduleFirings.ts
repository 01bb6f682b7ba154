import type { EntityManager } from '@mikro-orm/postgresql';

/** Rows deleted per statement, and statements per run: a first run over a large backlog finishes at later runs. */
const BATCH = 10_000;
const MAX_BATCHES = 10;

export interface FiringRetention {
  /** WORKSCHED_SCHEDULE_FIRING_RETENTION: firings kept per schedule, newest first. */
  keep: number;
  /** WORKSCHED_SCHEDULE_FIRING_RETENTION_DAYS: firings older than this go too (null: no age limit). */
  maxAgeDays: number | null;
}

/**
 * Firing history retention: per schedule, firings beyond the newest `keep`, and those older than `maxAgeDays`.
 * Never deleted: a schedule's newest firing (its last_firing), and a firing whose work request or workflow has
 * not ended (overlap: skip looks for it). Deleting old keys cannot fire a time again: a time trigger only fires
 * times after its stored next fire time, and a files trigger's ledger (schedule_file) is kept. Returns the
 * number of firings deleted.
 */
export async function pruneScheduleFirings(em: EntityManager, retention: FiringRetention): Promise<number> {
  let deleted = 0;
  for (let batch = 0; batch < MAX_BATCHES; batch += 1) {
    const rows = await em.execute<Array<{ id: string }>>(
      `with bounds as (
         select s.id as schedule_id,
           (select f.id from schedule_firing f where f.schedule_id = s.id order by f.id desc limit 1) as newest_id,
           (select f.id from schedule_firing f where f.schedule_id = s.id order by f.id desc offset ? limit 1) as first_dropped_id
         from schedule s
       ), candidates as (
         select f.id, f.work_request_id, f.workflow_id from bounds b join schedule_firing f on f.schedule_id = b.schedule_id and f.id <= b.first_dropped_id
         union
         select f.id, f.work_request_id, f.workflow_id from bounds b join schedule_firing f on f.schedule_id = b.schedule_id
         where ?::float8 is not null and f.fire_time < now() - ?::float8 * interval '1 day' and f.id <> b.newest_id
       ), doomed as (
         select c.id from candidates c
         where not exists (select 1 from work_request r where r.id = c.work_request_id and r.status in ('blocked', 'pending', 'running'))
           and not exists (select 1 from workflow w where w.workflow_id = c.workflow_id and w.status in ('PENDING', 'RUNNING'))
         limit ?
       )
       delete from schedule_firing f using doomed d where f.id = d.id
       returning f.id`,
      [retention.keep, retention.maxAgeDays, retention.maxAgeDays, BATCH],
    );
    deleted += rows.length;
    if (rows.length < BATCH) break;
  }
  return deleted;
}
