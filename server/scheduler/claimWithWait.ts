import type { EntityManager } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import type { ClaimedWorkRequest } from '../../protocol/workerApi';
import type { DatabaseNotifications } from '../notifications';
import { notifyPendingWork } from '../workRequests/notifyChanges';
import { claimWorkRequests } from './claimWorkRequests';
import type { QuickReport } from '../sql/completeBatchWithoutDecision';
import type { CompletedRow } from '../workRequests/completeRunningBatch';
import { transactional } from '../transactional';

/**
 * Reports a claim carries that its first claim transaction completes first (claimWorkRequests' `completeFirst`:
 * successes and skips of plain requests running on the worker); `onCompleted` gets the rows once committed.
 * That transaction throws CarriedReportsRefused, having written and claimed nothing, when they need the full path.
 */
export interface CarriedReports {
  reports: QuickReport[];
  onCompleted: (rows: CompletedRow[]) => void;
}

/** Longest single wait: requests whose retry back-off ends get no notification, so re-check this often. */
const MAX_WAIT_SLICE_MS = 5_000;
const WAIT_SLICE_WITHOUT_LISTEN_MS = 500;

/**
 * Long-poll: claims at once if anything fits, else sleeps until a NOTIFY says new work is pending (on any
 * server process) or `waitS` ends. A notification wakes only as many waiting claimers as it has new requests
 * (see subscribePendingWork); every waiter re-checks at least every slice, so a missed wake-up strands nothing. If the worker hangs up before it gets the answer, what was claimed for
 * it goes straight back to pending, so nothing is stranded on a worker that never heard of it.
 */
export async function claimWithWait(
  pool: Pool,
  forkEm: () => EntityManager,
  notifications: DatabaseNotifications,
  workerId: number,
  max: number,
  waitS: number,
  signal: AbortSignal,
  onClaimTransaction: () => void = () => undefined,
  onRunsFull: (workflowIds: string[]) => void = () => undefined,
  carried?: CarriedReports,
): Promise<ClaimedWorkRequest[]> {
  // Gone already (it hung up while its reports were applied): claim nothing for it. Reports it carries are
  // still completed (the first transaction; what it claims goes back at once).
  if (signal.aborted && !carried) return [];
  const deadline = Date.now() + waitS * 1000;
  let wokenBy = 0;
  let tried = 0;
  for (let attempt = 0; ; attempt += 1) {
    const subscription = notifications.subscribePendingWork(max, tried);
    onClaimTransaction();
    const completeFirst = attempt === 0 ? carried?.reports : undefined;
    let answer: Awaited<ReturnType<typeof claimWorkRequests>>;
    try {
      answer = await claimWorkRequests(pool, workerId, max, { checkUnclaimed: wokenBy > 0, completeFirst });
    } catch (error) {
      subscription.cancel();
      throw error;
    }
    const { claimed, unclaimedLeft, fullRuns, completed } = answer;
    // Committed: their wake-ups and metrics now, before this claim waits.
    if (completeFirst) carried?.onCompleted(completed);
    if (fullRuns.length > 0) onRunsFull(fullRuns);
    // Woken for work that did not fit this worker: let the next waiter (another worker) try it.
    if (wokenBy > 0 && claimed.length < max && unclaimedLeft) notifications.passOnPendingWork(wokenBy, max - claimed.length);
    if (signal.aborted && claimed.length > 0) {
      subscription.cancel();
      await releaseUndelivered(forkEm(), workerId, claimed.map((item) => item.id));
      return [];
    }
    const remaining = deadline - Date.now();
    if (claimed.length > 0 || remaining <= 0 || signal.aborted) {
      subscription.cancel();
      return claimed;
    }
    const slice = notifications.connected ? MAX_WAIT_SLICE_MS : WAIT_SLICE_WITHOUT_LISTEN_MS;
    await subscription.wait(Math.min(remaining, slice), signal);
    wokenBy = subscription.wokenBy();
    tried = Math.max(tried, wokenBy);
  }
}

async function releaseUndelivered(em: EntityManager, workerId: number, ids: number[]): Promise<void> {
  await transactional(em, async (tem) => {
    await tem.execute(
      `update work_request set status = 'pending', worker_id = null, started_at = null
       where id = any(array[?]::bigint[]) and worker_id = ? and status = 'running'`,
      [ids, workerId],
    );
    await notifyPendingWork(tem, ids.length);
  });
}
