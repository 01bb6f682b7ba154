import type { EntityManager } from '@mikro-orm/postgresql';
import { CHANNELS } from '../notifications';

/**
 * Inside a transaction: once it commits, wakes claimers on every server process, as many as `count` new
 * pending requests need (without a count: all of them).
 */
export async function notifyPendingWork(em: EntityManager, count?: number): Promise<void> {
  await em.execute(`select pg_notify(?, ?)`, [CHANNELS.pendingWork, count === undefined ? '' : String(Math.trunc(count))]);
}

/** Inside a transaction: wakes log followers and waiters of this request once it commits. */
export async function notifyWorkRequestActivity(em: EntityManager, id: number): Promise<void> {
  await em.execute(`select pg_notify(?, ?)`, [CHANNELS.workRequestActivity, String(id)]);
}
