import type { EntityManager } from '@mikro-orm/postgresql';
import type { OutputData } from '../../protocol/outputData';
import type { WorkRequestResult } from '../../protocol/workRequest';
import type { WorkRequest } from '../../entities';
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
  const key = historyKeyOf(row);
  const worker = row.worker ?? null;
  const figures = historyFigures(outputData);
  const completedAt = row.completedAt ?? new Date();
  // One statement: the history row, and the run queued for the key's counters (rollUpTaskKeyCounters).
  await em.execute(
    `with recorded as (
       insert into task_history (task_name, subject, context, work_request_id, attempt, result, error_code, worker_id, worker_name,
         worker_cpu_count, worker_total_memory, duration_ms, cpu_time_ms, memory, disk_space, available_memory,
         available_disk_space, cpu_count, measurement, started_at, completed_at)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       returning task_name, subject, context, result, completed_at
     )
     insert into task_key_increment (task_name, subject, context, result, completed_at) select * from recorded`,
    [
      key.taskName, key.subject, key.context, row.id, row.attempt, result, figures[0],
      worker?.id ?? null, worker?.name ?? null, worker?.cpuCount ?? null, worker?.totalMemory ?? null,
      ...figures.slice(1), row.startedAt ?? null, completedAt,
    ],
  );
}

/**
 * The history columns a report fills, in table order: error_code, duration_ms, cpu_time_ms, memory, disk_space,
 * available_memory, available_disk_space, cpu_count, measurement. Milliseconds come from the `_ms` fields when
 * the worker sent them (full precision), else from the integer seconds.
 */
export function historyFigures(outputData: OutputData | null | undefined): Array<string | number | null> {
  const stats = outputData?.runtime_statistics ?? {};
  return [
    outputData?.errors?.[0]?.code ?? null,
    stats.duration_ms ?? (stats.duration !== undefined ? stats.duration * 1000 : null),
    stats.cpu_time_ms ?? (stats.cpu_time !== undefined ? stats.cpu_time * 1000 : null),
    stats.memory ?? null,
    stats.disk_space ?? null,
    stats.available_memory ?? null,
    stats.available_disk_space ?? null,
    stats.cpu_count ?? null,
    stats.measurement ?? null,
  ];
}
