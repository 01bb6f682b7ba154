import type { EntityManager } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import type { OutputData } from '../../protocol/outputData';
import type { WorkRequest, Worker } from '../../entities';
import { completeWithoutDecisionStatement } from '../sql/completeWithoutDecision';
import { namedStatement } from '../sql/statement';
import { notifyWorkRequestActivity } from './notifyChanges';
import { workRequestOfRow, type WorkRequestRow } from './workRequestOfRow';

/**
 * The hot path of completion: a `success` or `skipped` report for a request running on this worker needs no
 * retry decision, so it is one statement — the request completed, its history row and counter increment
 * written — atomic without an explicit transaction; followers are notified after it committed. Returns null when the request is not
 * running on this worker (repeat report, cancelled, reassigned): the caller takes the full path, which answers
 * those cases. On a plain pg connection as a named statement, without the ORM: planned once per connection, and
 * the row mapped without hydration (both cost more than running the statement). `em` only notifies (outside
 * withNotificationsAfterCommit).
 */
export async function completeWithoutDecision(
  em: EntityManager,
  pool: Pool,
  id: number,
  workerId: number,
  report: { result: 'success' | 'skipped'; output_data: OutputData },
): Promise<{ row: WorkRequest; worker: Pick<Worker, 'id' | 'name'> } | null> {
  const stateReason = report.result === 'skipped' ? (report.output_data.skip_reason ? `skipped: ${report.output_data.skip_reason}` : 'skipped') : null;
  const statement = namedStatement('worksched_complete_without_decision', completeWithoutDecisionStatement(id, workerId, { ...report, stateReason }));
  const { rows } = await pool.query<WorkRequestRow & { worker_name: string }>(statement);
  const raw = rows[0];
  if (!raw) return null;
  await notifyWorkRequestActivity(em, id);
  return { row: workRequestOfRow(raw), worker: { id: workerId, name: raw.worker_name } };
}
