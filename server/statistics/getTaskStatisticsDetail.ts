import type { EntityManager } from '@mikro-orm/postgresql';
import type { TaskStatisticsDetail } from '../../protocol/statistics';
import { NotFoundError } from '../errors';
import { listRecentRuns } from './listRecentRuns';
import { rollUpTaskKeyCounters } from '../history/rollUpTaskKeyCounters';
import { listTaskKeys, sumTaskCounters } from './listTaskKeys';
import { serializeTaskStatistics } from './serializeTaskStatistics';
import { cachedKeyPercentiles, computeTaskPercentiles, percentileMapKey } from './successPercentiles';

export const RECENT_RUNS = 20;

/**
 * GET /statistics/tasks/:task_name: the task's keys by subject/context (up to `keyLimit`), a total across them
 * (counters summed, percentiles over all the task's retained successful runs) and its newest runs.
 * A 404 when the task has no history.
 */
export async function getTaskStatisticsDetail(em: EntityManager, taskName: string, keyLimit: number): Promise<TaskStatisticsDetail> {
  await rollUpTaskKeyCounters(em);
  const total = await sumTaskCounters(em, taskName);
  if (!total) {
    throw new NotFoundError(`task ${JSON.stringify(taskName)} has no history (list the tasks that have with GET /api/v1/statistics/tasks)`);
  }
  const { keys, nextCursor } = await listTaskKeys(em, { task_name: taskName, sort: 'task_name', limit: keyLimit });
  const [keyPercentiles, totalPercentiles, recentRuns] = await Promise.all([
    cachedKeyPercentiles(em, keys),
    computeTaskPercentiles(em, taskName),
    listRecentRuns(em, taskName, RECENT_RUNS),
  ]);
  return {
    task_name: taskName,
    total: serializeTaskStatistics(total, totalPercentiles),
    keys: keys.map((key) => serializeTaskStatistics(key, keyPercentiles.get(percentileMapKey(key)))),
    keys_truncated: nextCursor !== null,
    recent_runs: recentRuns,
  };
}
