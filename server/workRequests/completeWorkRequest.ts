import type { EntityManager } from '@mikro-orm/postgresql';
import type { OutputData } from '../../protocol/outputData';
import type { WorkRequestResult } from '../../protocol/workRequest';
import type { WorkRequest } from '../../entities';
import { ConflictError } from '../errors';
import { lockWorkRequest } from './lockWorkRequest';
import { notifyWorkRequestActivity } from './notifyChanges';

/**
 * The assigned worker reports the result. Idempotent: a repeated report (e.g. re-sent after a lost answer)
 * is answered 200 and changes nothing. A request cancelled while running stays aborted but keeps the
 * statistics of the killed run. Any other worker gets a 409.
 */
export async function completeWorkRequest(
  em: EntityManager,
  id: number,
  workerId: number,
  report: { result: WorkRequestResult; output_data: OutputData },
): Promise<WorkRequest> {
  return em.transactional(async (tem) => {
    const row = await lockWorkRequest(tem, id);
    if (row.worker?.id !== workerId) {
      throw new ConflictError(`work request ${id} is not assigned to this worker`, 'not_assigned');
    }
    if (row.status === 'completed') return row;
    if (row.status === 'aborted') {
      if (!row.outputData) {
        row.outputData = report.output_data;
        await tem.flush();
      }
      return row;
    }
    if (row.status !== 'running') {
      throw new ConflictError(`work request ${id} is ${row.status}, not running`, 'not_running');
    }
    row.status = 'completed';
    row.result = report.result;
    row.outputData = report.output_data;
    row.completedAt = new Date();
    row.stateReason = describeCompletion(report);
    await tem.flush();
    await notifyWorkRequestActivity(tem, id);
    return row;
  });
}

function describeCompletion(report: { result: WorkRequestResult; output_data: OutputData }): string | null {
  if (report.result === 'success') return null;
  if (report.result === 'skipped') return report.output_data.skip_reason ? `skipped: ${report.output_data.skip_reason}` : 'skipped';
  const first = report.output_data.errors?.[0];
  return first ? `${report.result}: ${first.message}` : report.result;
}
