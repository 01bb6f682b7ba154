import type { Response } from 'express';
import type { ServerContext } from '../context';
import { CHANNELS } from '../notifications';
import { readLogEntries } from '../workRequests/logEntries';

const POLL_SLICE_MS = 2_000;
const BATCH = 1_000;

/**
 * Streams log entries as NDJSON over chunked HTTP: what is stored, then each new entry as it arrives (woken by
 * NOTIFY from whichever server process stored it), until the request has ended and everything was sent.
 */
export async function followLogEntries(
  ctx: ServerContext,
  res: Response,
  workRequestId: number,
  afterSeq: number,
  signal: AbortSignal,
): Promise<void> {
  res.status(200);
  res.setHeader('Content-Type', 'application/x-ndjson; charset=utf-8');
  res.setHeader('Cache-Control', 'no-cache');
  res.setHeader('X-Accel-Buffering', 'no');
  res.flushHeaders();
  let last = afterSeq;
  while (!signal.aborted) {
    const subscription = ctx.notifications.subscribe(CHANNELS.workRequestActivity, String(workRequestId));
    const em = ctx.orm.em.fork();
    // Read the state before the entries: if it had ended, every entry it will ever get is already stored.
    const state = await em.execute<{ status: string }[]>(`select status from work_request where id = ?`, [workRequestId]);
    const ended = state[0] === undefined || state[0].status === 'completed' || state[0].status === 'aborted';
    let entries = await readLogEntries(em, workRequestId, last, BATCH);
    while (entries.length > 0 && !signal.aborted) {
      res.write(entries.map((entry) => JSON.stringify(entry)).join('\n') + '\n');
      last = entries[entries.length - 1].seq;
      entries = entries.length === BATCH ? await readLogEntries(em, workRequestId, last, BATCH) : [];
    }
    if (ended) {
      subscription.cancel();
      break;
    }
    await subscription.wait(POLL_SLICE_MS, signal);
  }
  res.end();
}
