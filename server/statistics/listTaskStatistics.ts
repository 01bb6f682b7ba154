import type { EntityManager } from '@mikro-orm/postgresql';
import type { TaskStatisticsList, TaskStatisticsQuery } from '../../protocol/statistics';
import { rollUpTaskKeyCounters } from '../history/rollUpTaskKeyCounters';
import { listTaskKeys } from './listTaskKeys';
import { serializeTaskStatistics } from './serializeTaskStatistics';
import { cachedKeyPercentiles, percentileMapKey } from './successPercentiles';

/**
 * GET /statistics/tasks in two steps, so it stays fast however long the history: one page of keys from
 * task_key (filters, sort and cursor on its own columns and indexes), then the percentiles of just those
 * keys: from task_key's cache where no successful run was added or pruned since, else from their history rows.
 */
export async function listTaskStatistics(em: EntityManager, query: TaskStatisticsQuery): Promise<TaskStatisticsList> {
  await rollUpTaskKeyCounters(em);
  const { keys, nextCursor } = await listTaskKeys(em, query);
  const percentiles = await cachedKeyPercentiles(em, keys);
  return {
    tasks: keys.map((key) => serializeTaskStatistics(key, percentiles.get(percentileMapKey(key)))),
    next_cursor: nextCursor,
  };
}
