import type { EntityManager } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import type { ClaimedWorkRequest } from '../../protocol/workerApi';
import type { DatabaseNotifications } from '../notifications';
import { notifyPendingWork } from '../workRequests/notifyChanges';
import { claimWorkRequests } from './claimWorkRequests';
import { transactional } from '../transactional';

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
): Promise<ClaimedWorkRequest[]> {
  // Gone already (it hung up while its reports were applied): claim nothing for it.
  if (signal.aborted) return [];
  const deadline = Date.now() + waitS * 1000;
  let wokenBy = 0;
  let tried = 0;
  for (;;) {
    const subscription = notifications.subscribePendingWork(max, tried);
    onClaimTransaction();
    const { claimed, unclaimedLeft, fullRuns } = await claimWorkRequests(pool, workerId, max, { checkUnclaimed: wokenBy > 0 });
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
