import type { EntityManager } from '@mikro-orm/postgresql';
import { rawQuery } from '../sql/rawQuery';
import { describeKey, type HistoryKey } from './historyKey';

/** How long a key's requests hold a worker slot, learned from its newest successful runs. */
export interface ExpectedDuration {
  ms: number;
  runs: number;
  /** The key level the figure comes from ("build/foo", "build (any subject)"). */
  label: string;
}

/**
 * The mean time a slot is held (claim to completion: started_at → completed_at, so spawning, measuring and
 * reporting count; duration_ms where started_at is unknown) over the newest `sampleRuns` successful runs, for
 * each key, at the most specific level that has any (key → task + subject → task), like learned requirements.
 * The mean, not the median: what is predicted is a sum of many durations. One query per level, over the keys
 * still unresolved (the keys go as one JSON parameter); keys with no history at any level are absent from the map.
 */
export async function expectedDurations(em: EntityManager, keys: HistoryKey[], sampleRuns: number): Promise<Map<string, ExpectedDuration>> {
  const found = new Map<string, ExpectedDuration>();
  const levels: Array<{ columns: Array<'task_name' | 'subject' | 'context'>; label: (key: HistoryKey) => string }> = [
    { columns: ['task_name', 'subject', 'context'], label: describeKey },
    { columns: ['task_name', 'subject'], label: (key) => describeKey({ ...key, context: '' }) + (key.context ? ' (any context)' : '') },
    { columns: ['task_name'], label: (key) => `${key.taskName} (any subject)` },
  ];
  for (const level of levels) {
    const open = uniqueBy(keys.filter((key) => !found.has(durationKey(key))), (key) => levelKey(key, level.columns));
    if (open.length === 0) break;
    const match = level.columns.map((column) => `h.${column} = k.${column}`).join(' and ');
    const rows = await rawQuery<{ task_name: string; subject: string; context: string; runs: string; mean_ms: number | null }>(
      em,
      `select k.task_name, k.subject, k.context, recent.runs, recent.mean_ms
       from json_to_recordset(?::json) as k(task_name text, subject text, context text)
       cross join lateral (
         select count(*) as runs, avg(held_ms) as mean_ms from (
           select coalesce(extract(epoch from h.completed_at - h.started_at) * 1000, h.duration_ms) as held_ms
           from task_history h where ${match} and h.result = 'success'
           order by h.completed_at desc limit ?
         ) newest
       ) recent
       where recent.runs > 0`,
      [JSON.stringify(open.map((key) => ({ task_name: key.taskName, subject: key.subject, context: key.context }))), sampleRuns],
    );
    const byLevelKey = new Map(rows.filter((row) => row.mean_ms !== null).map((row) => [levelKey({ taskName: row.task_name, subject: row.subject, context: row.context }, level.columns), row]));
    for (const key of keys) {
      if (found.has(durationKey(key))) continue;
      const row = byLevelKey.get(levelKey(key, level.columns));
      if (row) found.set(durationKey(key), { ms: Math.max(0, Number(row.mean_ms)), runs: Number(row.runs), label: level.label(key) });
    }
  }
  return found;
}

export function durationKey(key: HistoryKey): string {
  return `${key.taskName}\u0000${key.subject}\u0000${key.context}`;
}

function levelKey(key: HistoryKey, columns: Array<'task_name' | 'subject' | 'context'>): string {
  const parts = { task_name: key.taskName, subject: key.subject, context: key.context };
  return columns.map((column) => parts[column]).join('\u0000');
}

function uniqueBy<T>(items: T[], keyOf: (item: T) => string): T[] {
  const seen = new Map<string, T>();
  for (const item of items) if (!seen.has(keyOf(item))) seen.set(keyOf(item), item);
  return [...seen.values()];
}
