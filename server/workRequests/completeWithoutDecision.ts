import type { EntityManager } from '@mikro-orm/postgresql';
import type { OutputData } from '../../protocol/outputData';
import { WorkRequest, type Worker } from '../../entities';
import { completeWithoutDecisionStatement } from '../sql/completeWithoutDecision';
import { notifyWorkRequestActivity } from './notifyChanges';

/**
 * The hot path of completion: a `success` or `skipped` report for a request running on this worker needs no
 * retry decision, so it is one statement — the request completed, its history row and counter increment
 * written — atomic without an explicit transaction; followers are notified after it committed. Returns null when the request is not
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
  const statement = completeWithoutDecisionStatement(id, workerId, { ...report, stateReason });
  const rows = await em.execute<Array<Record<string, unknown> & { worker_name: string }>>(statement.text, statement.values);
  const raw = rows[0];
  if (!raw) return null;
  await notifyWorkRequestActivity(em, id);
  const { worker_name: workerName, worker_cpu_count: _cpus, worker_total_memory: _memory, ...columns } = raw;
  return { row: em.map(WorkRequest, columns), worker: { id: workerId, name: workerName } };
}
