import type { EntityManager } from '@mikro-orm/postgresql';
import type { OutputData } from '../../protocol/outputData';
import { WorkRequest, type Worker } from '../../entities';
import { historyFigures } from '../history/recordTaskHistory';
import { CHANNELS } from '../notifications';

/**
 * The hot path of completion: a `success` or `skipped` report for a request running on this worker needs no
 * retry decision, so it is one statement — the request completed, its history row and counter increment
 * written, followers notified — atomic without an explicit transaction. Returns null when the request is not
 * running on this worker (repeat report, cancelled, reassigned): the caller takes the full path, which answers
 * those cases.
 */
export async function completeWithoutDecision(
  em: EntityManager,
  id: number,
  workerId: number,
  report: { result: 'success' | 'skipped'; output_data: OutputData },
): Promise<{ row: WorkRequest; worker: Pick<Worker, 'id' | 'name'> } | null> {
  const stateReason = report.result === 'skipped' ? (report.output_data.skip_reason ? `skipped: ${report.output_data.skip_reason}` : 'skipped') : null;
  const rows = await em.execute<Array<Record<string, unknown> & { worker_name: string }>>(
    `with done as (
       update work_request w
         -- Millisecond precision, like every other timestamp the API shows.
         set status = 'completed', result = ?, output_data = ?::jsonb, completed_at = date_trunc('milliseconds', now()), state_reason = ?
         from worker k
         where w.id = ? and w.worker_id = ? and w.status = 'running' and k.id = w.worker_id
         returning w.*, k.name as worker_name, k.cpu_count as worker_cpu_count, k.total_memory as worker_total_memory
     ), recorded as (
       insert into task_history (task_name, subject, context, work_request_id, attempt, result, error_code, worker_id, worker_name,
         worker_cpu_count, worker_total_memory, duration_ms, cpu_time_ms, memory, disk_space, available_memory,
         available_disk_space, cpu_count, measurement, started_at, completed_at)
       select task_name, coalesce(subject, ''), coalesce(context, ''), id, attempt, result, ?, worker_id, worker_name,
         worker_cpu_count, worker_total_memory, ?, ?, ?, ?, ?, ?, ?, ?, started_at, completed_at
       from done where coalesce((task_data ->> 'use_history')::boolean, true)
       returning task_name, subject, context, result, completed_at
     ), counted as (
       insert into task_key_increment (task_name, subject, context, result, completed_at) select * from recorded
     )
     select done.*, pg_notify(?, done.id::text) as notified from done`,
    [report.result, JSON.stringify(report.output_data), stateReason, id, workerId, ...historyFigures(report.output_data), CHANNELS.workRequestActivity],
  );
  const raw = rows[0];
  if (!raw) return null;
  const { worker_name: workerName, worker_cpu_count: _cpus, worker_total_memory: _memory, notified: _notified, ...columns } = raw;
  return { row: em.map(WorkRequest, columns), worker: { id: workerId, name: workerName } };
}
