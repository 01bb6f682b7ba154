import type { EntityManager } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import type { ClaimedWorkRequest } from '../../protocol/workerApi';
import { CHANNELS, type DatabaseNotifications } from '../notifications';
import { notifyPendingWork } from '../workRequests/notifyChanges';
import { claimWorkRequests } from './claimWorkRequests';

/** Longest single wait: requests whose retry back-off ends get no notification, so re-check this often. */
const MAX_WAIT_SLICE_MS = 5_000;
const WAIT_SLICE_WITHOUT_LISTEN_MS = 500;

/**
 * Long-poll: claims at once if anything fits, else sleeps until a NOTIFY says new work is pending (on any
 * server process) or `waitS` ends. If the worker hangs up before it gets the answer, what was claimed for
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
): Promise<ClaimedWorkRequest[]> {
  const deadline = Date.now() + waitS * 1000;
  for (;;) {
    const subscription = notifications.subscribe(CHANNELS.pendingWork);
    const claimed = await claimWorkRequests(pool, workerId, max);
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
  }
}

async function releaseUndelivered(em: EntityManager, workerId: number, ids: number[]): Promise<void> {
  await em.transactional(async (tem) => {
    await tem.execute(
      `update work_request set status = 'pending', worker_id = null, started_at = null
       where id = any(array[?]::bigint[]) and worker_id = ? and status = 'running'`,
      [ids, workerId],
    );
    await notifyPendingWork(tem);
  });
}
