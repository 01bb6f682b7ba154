import type { EntityManager } from '@mikro-orm/postgresql';
import { busyMs } from '../sql/taskHistory';
import { bookWorkerHours } from '../sql/workerHours';
import { rollUpTaskKeyCounters } from './rollUpTaskKeyCounters';

/**
 * Retention per key: the newest `keepRuns` runs, plus the last success and the last failure whatever their
 * age (they answer "did this ever succeed?" and "how did it last fail?"). Only keys over the limit are
 * scanned. The workers' hourly figures lose what is deleted (they describe the history that is kept). Returns the
 * number of rows deleted.
 */
export async function pruneTaskHistory(em: EntityManager, keepRuns: number): Promise<number> {
  await rollUpTaskKeyCounters(em); // "crowded" is judged on the counters: bring them up to date first
  const deleted = await em.execute<{ id: string }[]>(
    `with crowded as (
       select task_name, subject, context from task_key where runs > ?
     ), ranked as (
       select h.id,
         row_number() over (partition by h.task_name, h.subject, h.context order by h.completed_at desc, h.id desc) as newest,
         row_number() over (partition by h.task_name, h.subject, h.context, h.result = 'success' order by h.completed_at desc, h.id desc) as newest_of_kind
       from task_history h join crowded k using (task_name, subject, context)
     ), pruned as (
       delete from task_history h using ranked r
       where h.id = r.id and r.newest > ? and r.newest_of_kind > 1
       returning h.id, h.task_name, h.subject, h.context, h.worker_id, h.completed_at, h.result, ${busyMs('h.')} as busy_ms
     ), hours as (
       ${bookWorkerHours('pruned', -1)}
     ), stale_percentiles as (
       -- The key's percentiles are over its retained successful runs: those that lost one are stale.
       update task_key k set figures_version = k.figures_version + 1
       from (select distinct task_name, subject, context from pruned where result = 'success') p
       where k.task_name = p.task_name and k.subject = p.subject and k.context = p.context
       returning 1
     )
     select id from pruned`,
    [keepRuns, keepRuns],
  );
  return deleted.length;
}
