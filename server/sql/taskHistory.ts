import type { OutputData } from '../../protocol/outputData';
import type { TaskHistory } from '../../entities';
import type { SqlStatement } from './statement';

/** One finished attempt as task_history stores it: the entity's fields (the key with '' for "none"). */
export type TaskHistoryRow = Omit<TaskHistory, 'id'>;

/** The figures of a report that a history row keeps. */
export type HistoryFigures = Pick<
  TaskHistoryRow,
  'errorCode' | 'durationMs' | 'cpuTimeMs' | 'memory' | 'diskSpace' | 'availableMemory' | 'availableDiskSpace' | 'cpuCount' | 'measurement'
>;

/**
 * An attempt's cost in a completion's UPDATE of work_request `w` joined with its worker `k`: the worker's
 * cost_per_hour × the measured duration (`%duration`, milliseconds); null without a price or a duration.
 */
export const ATTEMPT_COST = `k.cost_per_hour * (%duration) / 3600000.0`;

/**
 * A run's busy time in milliseconds for the worker statistics, over task_history columns (prefixed by `alias`):
 * its measured duration, else completed − started. Numeric, so sums of sums are exact.
 */
export const busyMs = (alias: string): string =>
  `coalesce(${alias}duration_ms::numeric, extract(epoch from ${alias}completed_at - ${alias}started_at) * 1000)`;

/** A field taken from the statement's source relation (an SQL expression over it) instead of a bound value. */
export interface SourceExpression {
  readonly sql: string;
}
export const fromSource = (sql: string): SourceExpression => ({ sql });

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
  const fields = Object.entries(row);
  // Each column is its field in snake_case (workRequestId: work_request_id), as the entity names them.
  const columns = fields.map(([field]) => field.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`));
  const expressions = fields.map(([, value]) => {
    if (typeof value === 'object' && value !== null && !(value instanceof Date)) return value.sql;
    values.push(value);
    return '?';
  });
  return {
    text: `insert into task_history (${columns.join(', ')})
       select ${expressions.join(', ')}${source ? `\n       from ${source.from} where ${source.where}` : ''}
       returning task_name, subject, context, result, completed_at, cost, duration_ms, worker_id, ${busyMs('')} as busy_ms`,
    values,
  };
}

/**
 * The history row of an attempt a completion statement has just ended: every column read from its `done`
 * relation (the updated work_request row joined with its worker), the figures given by the caller.
 */
export function historyOfCompletedAttempt(figures: { [K in keyof HistoryFigures]: HistoryFigures[K] | SourceExpression }): SqlStatement {
  return insertTaskHistory(
    {
      taskName: fromSource('task_name'),
      subject: fromSource(`coalesce(subject, '')`),
      context: fromSource(`coalesce(context, '')`),
      workRequestId: fromSource('id'),
      attempt: fromSource('attempt'),
      result: fromSource('result'),
      workerId: fromSource('worker_id'),
      workerName: fromSource('worker_name'),
      workerCpuCount: fromSource('worker_cpu_count'),
      workerTotalMemory: fromSource('worker_total_memory'),
      startedAt: fromSource('started_at'),
      completedAt: fromSource('completed_at'),
      cost: fromSource('cost'),
      ...figures,
    },
    { from: 'done', where: `coalesce((task_data ->> 'use_history')::boolean, true)` },
  );
}

/** Queues the runs `recorded` (an insertTaskHistory CTE) returned for the key's counters. */
export function queueKeyIncrement(recorded: string): string {
  return `insert into task_key_increment (task_name, subject, context, result, completed_at, cost, duration_ms, worker_id, busy_ms) select * from ${recorded}`;
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
