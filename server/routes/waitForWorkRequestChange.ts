import type { WorkRequest as WorkRequestJson, WorkRequestStatus } from '../../protocol/workRequest';
import type { ServerContext } from '../context';
import { CHANNELS } from '../notifications';
import { findEstimates } from '../workRequests/findEstimates';
import { getWorkRequest } from '../workRequests/queryWorkRequests';
import { serializeWorkRequest } from '../workRequests/serializeWorkRequest';

/** Claims do not NOTIFY (they are the hot path): re-read this often so pending → running shows up anyway. */
const RECHECK_MS = 2_000;
const ENDED: ReadonlySet<WorkRequestStatus> = new Set(['completed', 'aborted']);

/**
 * The long-poll of GET /work-requests/:id?wait_s=: the request once its status is no longer `whileStatus`
 * (without one: once it has ended), or as it is when `waitMs` has passed. Completion, cancel, requeue and log
 * entries NOTIFY, so an end is answered at once.
 */
export async function waitForWorkRequestChange(
  ctx: ServerContext,
  id: number,
  whileStatus: WorkRequestStatus | undefined,
  waitMs: number,
  signal: AbortSignal,
): Promise<WorkRequestJson> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const subscription = ctx.notifications.subscribe(CHANNELS.workRequestActivity, String(id));
    const em = ctx.orm.em.fork();
    const row = await getWorkRequest(em, id);
    const request = serializeWorkRequest(row, undefined, (await findEstimates(em, [id])).get(id));
    const changed = whileStatus === undefined ? ENDED.has(request.status) : request.status !== whileStatus;
    const left = deadline - Date.now();
    if (changed || left <= 0 || signal.aborted) {
      subscription.cancel();
      return request;
    }
    await subscription.wait(Math.min(left, RECHECK_MS), signal);
  }
}
