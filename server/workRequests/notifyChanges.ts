import type { EntityManager } from '@mikro-orm/postgresql';
import { CHANNELS } from '../notifications';

/** Inside a transaction: wakes claimers on every server process once it commits. */
export async function notifyPendingWork(em: EntityManager): Promise<void> {
  await em.execute(`select pg_notify(?, '')`, [CHANNELS.pendingWork]);
}

/** Inside a transaction: wakes log followers and waiters of this request once it commits. */
export async function notifyWorkRequestActivity(em: EntityManager, id: number): Promise<void> {
  await em.execute(`select pg_notify(?, ?)`, [CHANNELS.workRequestActivity, String(id)]);
}
