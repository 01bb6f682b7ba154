import type { EntityManager } from '@mikro-orm/postgresql';
import type { RecentRun } from '../../protocol/statistics';
import type { WorkRequestResult } from '../../protocol/workRequest';

interface RecentRunRow {
  work_request_id: string | null;
  subject: string;
  context: string;
  attempt: number;
  result: WorkRequestResult;
  error_code: string | null;
  worker_name: string | null;
  duration_ms: string | null;
  cpu_time_ms: string | null;
  memory: string | null;
  disk_space: string | null;
  completed_at: Date | string;
}

/** Which of a task's history rows: a subject or context left out means any ('' means none). */
export interface RunsFilter {
  subject?: string;
  context?: string;
}

/**
 * The newest retained history rows of a task, across its subjects and contexts (task_history_task_recent_idx),
 * or of one subject and/or context (task_history_key_idx).
 */
export async function listRecentRuns(em: EntityManager, taskName: string, limit = 20, filter: RunsFilter = {}): Promise<RecentRun[]> {
  const { where, values } = runsFilterSql(taskName, filter);
  const rows = await em.execute<RecentRunRow[]>(
    `select h.work_request_id, h.subject, h.context, h.attempt, h.result, h.error_code, h.worker_name,
       h.duration_ms, h.cpu_time_ms, h.memory, h.disk_space, h.completed_at
     from task_history h where ${where}
     order by h.completed_at desc, h.id desc
     limit ?`,
    [...values, limit],
  );
  return rows.map((row) => ({
    work_request_id: nullableNumber(row.work_request_id),
    subject: row.subject === '' ? null : row.subject,
    context: row.context === '' ? null : row.context,
    attempt: Number(row.attempt),
    result: row.result,
    error_code: row.error_code,
    worker_name: row.worker_name,
    duration_s: row.duration_ms === null ? null : Number(row.duration_ms) / 1000,
    cpu_time_s: row.cpu_time_ms === null ? null : Number(row.cpu_time_ms) / 1000,
    memory: nullableNumber(row.memory),
    disk_space: nullableNumber(row.disk_space),
    completed_at: new Date(row.completed_at).toISOString(),
  }));
}

/** The WHERE clause over `task_history h` for a task and a RunsFilter. */
export function runsFilterSql(taskName: string, filter: RunsFilter): { where: string; values: string[] } {
  const clauses = ['h.task_name = ?'];
  const values = [taskName];
  for (const column of ['subject', 'context'] as const) {
    const value = filter[column];
    if (value === undefined) continue;
    clauses.push(`h.${column} = ?`);
    values.push(value);
  }
  return { where: clauses.join(' and '), values };
}

function nullableNumber(value: string | number | null): number | null {
  return value === null ? null : Number(value);
}
