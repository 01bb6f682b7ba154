import type { EntityManager } from '@mikro-orm/postgresql';
import type { OutputData } from '../../protocol/outputData';
import type { WorkRequestResult } from '../../protocol/workRequest';
import type { WorkRequest } from '../../entities';
import { historyFigures, insertTaskHistory, queueKeyIncrement } from '../sql/taskHistory';
import { historyKeyOf } from './historyKey';

/**
 * Inside the transaction that ends an attempt: one history row with full-precision figures and the worker's
 * reference data; the key's counters follow at the next roll-up. Requests that opted out (`use_history: false`) leave no trace.
 */
export async function recordTaskHistory(
  em: EntityManager,
  row: WorkRequest,
  result: WorkRequestResult,
  outputData: OutputData | null | undefined,
): Promise<void> {
  if (row.taskData.use_history === false) return;
  const worker = row.worker ?? null;
  const history = insertTaskHistory({
    ...historyKeyOf(row),
    workRequestId: row.id,
    attempt: row.attempt,
    result,
    workerId: worker?.id ?? null,
    workerName: worker?.name ?? null,
    workerCpuCount: worker?.cpuCount ?? null,
    workerTotalMemory: worker?.totalMemory ?? null,
    startedAt: row.startedAt ?? null,
    completedAt: row.completedAt ?? new Date(),
    cost: row.cost ?? null,
    ...historyFigures(outputData),
  });
  // One statement: the history row, and the run queued for the key's counters (rollUpTaskKeyCounters).
  await em.execute(`with recorded as (${history.text}) ${queueKeyIncrement('recorded')}`, history.values);
}
