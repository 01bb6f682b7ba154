import type { EntityManager } from '@mikro-orm/postgresql';
import type { WorkRequest } from '../../entities';
import { lockWorkRequest } from './lockWorkRequest';
import { appendSystemLogLine } from './logEntries';
import { transactional } from '../transactional';

/** Sets an operator's priority adjustment; claim order uses priority + adjustment, then age. */
export async function adjustPriority(em: EntityManager, id: number, adjustment: number, by: string): Promise<WorkRequest> {
  return transactional(em, async (tem) => {
    const row = await lockWorkRequest(tem, id);
    if (row.priorityAdjustment === adjustment) return row;
    const before = row.priorityAdjustment;
    row.priorityAdjustment = adjustment;
    await tem.flush();
    await appendSystemLogLine(tem, id, `priority adjustment ${before} → ${adjustment} by ${by} (effective priority ${row.priority + adjustment})`);
    return row;
  });
}
