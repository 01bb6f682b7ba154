import { AsyncLocalStorage } from 'node:async_hooks';
import type { EntityManager } from '@mikro-orm/postgresql';
import { CHANNELS, payloadChunks, type DatabaseNotifications } from '../notifications';

/** What the transactions of one unit of work would have NOTIFYd, sent once they have committed. */
interface CollectedNotifications {
  activity: Set<number>;
  pending: number;
}

const afterCommit = new AsyncLocalStorage<CollectedNotifications>();

/**
 * Runs `work` (which commits its own transactions) so that the notifications its transactions ask for are
 * not sent inside them but published once it is done (notifications.publishActivity/publishPendingWork): a
 * transaction that NOTIFYs holds a database-wide lock from its commit until its WAL is flushed, so notifying
 * completions and creates would commit one at a time. Published even when `work` fails (a spare wake-up only
 * costs a re-check). If the process dies between a commit and the publish, the wake-ups are lost, which no
 * receiver depends on: claimers re-check every 5 s slice, log followers and waiters of a request every 2 s.
 */
export async function withNotificationsAfterCommit<T>(notifications: DatabaseNotifications, work: () => Promise<T>): Promise<T> {
  const collected: CollectedNotifications = { activity: new Set(), pending: 0 };
  try {
    return await afterCommit.run(collected, work);
  } finally {
    if (collected.activity.size > 0) notifications.publishActivity(collected.activity);
    if (collected.pending > 0) notifications.publishPendingWork(collected.pending);
  }
}

/**
 * Inside a transaction: once it commits, wakes claimers on every server process, as many as `count` new
 * pending requests need (without a count: all of them). Within withNotificationsAfterCommit, deferred to it.
 */
export async function notifyPendingWork(em: EntityManager, count?: number): Promise<void> {
  const collected = afterCommit.getStore();
  if (collected && count !== undefined) {
    collected.pending += Math.max(0, Math.trunc(count));
    return;
  }
  await em.execute(`select pg_notify(?, ?)`, [CHANNELS.pendingWork, count === undefined ? '' : String(Math.trunc(count))]);
}

/** Inside a transaction: wakes log followers and waiters of this request once it commits (see above). */
export async function notifyWorkRequestActivity(em: EntityManager, id: number): Promise<void> {
  await notifyWorkRequestsActivity(em, [id]);
}

/** notifyWorkRequestActivity for several requests. */
export async function notifyWorkRequestsActivity(em: EntityManager, ids: Iterable<number>): Promise<void> {
  const list = [...ids].map((id) => Math.trunc(Number(id)));
  if (list.length === 0) return;
  const collected = afterCommit.getStore();
  if (collected) {
    for (const id of list) collected.activity.add(id);
    return;
  }
  for (const payload of payloadChunks(list)) await em.execute(`select pg_notify(?, ?)`, [CHANNELS.workRequestActivity, payload]);
}

/** Whether this runs within withNotificationsAfterCommit (its wake-ups are sent after the commit). */
export function isCollectingNotifications(): boolean {
  return afterCommit.getStore() !== undefined;
}

/**
 * For paths on a plain pg connection: within withNotificationsAfterCommit, records `count` new pending requests
 * and answers true; otherwise false (the caller notifies in its own transaction).
 */
export function deferPendingWork(count: number): boolean {
  const collected = afterCommit.getStore();
  if (!collected) return false;
  collected.pending += Math.max(0, Math.trunc(count));
  return true;
}
