import type { OutputData } from '../../protocol/outputData';
import type { WorkRequestResult } from '../../protocol/workRequest';
import type { SqlStatement } from './statement';

/** The figures of a report that a history row keeps. */
export interface HistoryFigures {
  errorCode: string | null;
  durationMs: number | null;
  cpuTimeMs: number | null;
  memory: number | null;
  diskSpace: number | null;
  availableMemory: number | null;
  availableDiskSpace: number | null;
  cpuCount: number | null;
  measurement: string | null;
}

/** One finished attempt as task_history stores it (the key with '' for "none"). */
export interface TaskHistoryRow extends HistoryFigures {
  taskName: string;
  subject: string;
  context: string;
  workRequestId: number;
  attempt: number;
  result: WorkRequestResult;
  workerId: number | null;
  workerName: string | null;
  workerCpuCount: number | null;
  workerTotalMemory: number | null;
  startedAt: Date | null;
  completedAt: Date;
}

/** A field taken from the statement's source relation (an SQL expression over it) instead of a bound value. */
export interface SourceExpression {
  readonly sql: string;
}
export const fromSource = (sql: string): SourceExpression => ({ sql });

const COLUMNS: { [K in keyof TaskHistoryRow]-?: string } = {
  taskName: 'task_name',
  subject: 'subject',
  context: 'context',
  workRequestId: 'work_request_id',
  attempt: 'attempt',
  result: 'result',
  errorCode: 'error_code',
  workerId: 'worker_id',
  workerName: 'worker_name',
  workerCpuCount: 'worker_cpu_count',
  workerTotalMemory: 'worker_total_memory',
  durationMs: 'duration_ms',
  cpuTimeMs: 'cpu_time_ms',
  memory: 'memory',
  diskSpace: 'disk_space',
  availableMemory: 'available_memory',
  availableDiskSpace: 'available_disk_space',
  cpuCount: 'cpu_count',
  measurement: 'measurement',
  startedAt: 'started_at',
  completedAt: 'completed_at',
};

/**
 * The one writer of task_history rows: `insert … returning` the key, result and time that
 * `queueKeyIncrement` passes on to the key's counters (rollUpTaskKeyCounters). Meant as a CTE body. With
 * `source`, fields given as `fromSource(...)` read that relation's row (filtered by `source.where`).
 */
export function insertTaskHistory(
  row: { [K in keyof TaskHistoryRow]: TaskHistoryRow[K] | SourceExpression },
  source?: { from: string; where: string },
): SqlStatement {
  const values: unknown[] = [];
  const expressions = (Object.keys(COLUMNS) as Array<keyof TaskHistoryRow>).map((field) => {
    const value = row[field];
    if (typeof value === 'object' && value !== null && !(value instanceof Date)) return value.sql;
    values.push(value);
    return '?';
  });
  return {
    text: `insert into task_history (${Object.values(COLUMNS).join(', ')})
       select ${expressions.join(', ')}${source ? `\n       from ${source.from} where ${source.where}` : ''}
       returning task_name, subject, context, result, completed_at`,
    values,
  };
}

/** Queues the runs `recorded` (an insertTaskHistory CTE) returned for the key's counters. */
export function queueKeyIncrement(recorded: string): string {
  return `insert into task_key_increment (task_name, subject, context, result, completed_at) select * from ${recorded}`;
}

/**
 * What a report says for history. Milliseconds come from the `_ms` fields when the worker sent them (full
 * precision), else from the integer seconds.
 */
export function historyFigures(outputData: OutputData | null | undefined): HistoryFigures {
  const stats = outputData?.runtime_statistics ?? {};
  return {
    errorCode: outputData?.errors?.[0]?.code ?? null,
    durationMs: stats.duration_ms ?? (stats.duration !== undefined ? stats.duration * 1000 : null),
    cpuTimeMs: stats.cpu_time_ms ?? (stats.cpu_time !== undefined ? stats.cpu_time * 1000 : null),
    memory: stats.memory ?? null,
    diskSpace: stats.disk_space ?? null,
    availableMemory: stats.available_memory ?? null,
    availableDiskSpace: stats.available_disk_space ?? null,
    cpuCount: stats.cpu_count ?? null,
    measurement: stats.measurement ?? null,
  };
}
