import type { EntityManager } from '@mikro-orm/postgresql';
import type { OutputData } from '../../protocol/outputData';
import type { WorkRequestResult } from '../../protocol/workRequest';
import type { WorkRequest } from '../../entities';
import { historyKeyOf } from './historyKey';

/**
 * Inside the transaction that ends an attempt: one history row with full-precision figures and the worker's
 * reference data, and the key's counters. Requests that opted out (`use_history: false`) leave no trace.
 */
export async function recordTaskHistory(
  em: EntityManager,
  row: WorkRequest,
  result: WorkRequestResult,
  outputData: OutputData | null | undefined,
): Promise<void> {
  if (row.taskData.use_history === false) return;
  const key = historyKeyOf(row);
  const stats = outputData?.runtime_statistics ?? {};
  const worker = row.worker ?? null;
  const errorCode = outputData?.errors?.[0]?.code ?? null;
  const durationMs = stats.duration_ms ?? (stats.duration !== undefined ? stats.duration * 1000 : null);
  const cpuTimeMs = stats.cpu_time_ms ?? (stats.cpu_time !== undefined ? stats.cpu_time * 1000 : null);
  const completedAt = row.completedAt ?? new Date();
  await em.execute(
    `insert into task_history (task_name, subject, context, work_request_id, attempt, result, error_code, worker_id, worker_name,
       worker_cpu_count, worker_total_memory, duration_ms, cpu_time_ms, memory, disk_space, available_memory,
       available_disk_space, cpu_count, measurement, started_at, completed_at)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      key.taskName, key.subject, key.context, row.id, row.attempt, result, errorCode,
      worker?.id ?? null, worker?.name ?? null, worker?.cpuCount ?? null, worker?.totalMemory ?? null,
      durationMs, cpuTimeMs, stats.memory ?? null, stats.disk_space ?? null, stats.available_memory ?? null,
      stats.available_disk_space ?? null, stats.cpu_count ?? null, stats.measurement ?? null, row.startedAt ?? null, completedAt,
    ],
  );
  const success = result === 'success';
  const failure = result === 'failure' || result === 'error';
  await em.execute(
    `insert into task_key (task_name, subject, context, runs, successes, failures, last_run_at, last_success_at, last_failure_at)
     values (?, ?, ?, 1, ?, ?, ?, ?, ?)
     on conflict (task_name, subject, context) do update set
       runs = task_key.runs + 1,
       successes = task_key.successes + excluded.successes,
       failures = task_key.failures + excluded.failures,
       last_run_at = greatest(task_key.last_run_at, excluded.last_run_at),
       last_success_at = greatest(task_key.last_success_at, excluded.last_success_at),
       last_failure_at = greatest(task_key.last_failure_at, excluded.last_failure_at)`,
    [key.taskName, key.subject, key.context, success ? 1 : 0, failure ? 1 : 0, completedAt, success ? completedAt : null, failure ? completedAt : null],
  );
}
