import { randomInt } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sleep } from '../common/sleep';
import { isTransactionConflict } from './databaseErrors';

/** Runs of one transaction that PostgreSQL keeps rolling back; after the last, the caller gets the error (503). */
export const TRANSACTION_ATTEMPTS = 4;

/**
 * `em.transactional(work)`, run again when PostgreSQL rolled it back to break a deadlock or a serialization
 * conflict (40P01, 40001): nothing of it was applied, so that is safe. A short random pause first, so that the
 * two transactions do not meet again in step. Nested in another transaction it is only a savepoint: the
 * conflict concerns the enclosing transaction's locks too, so the outermost one is what runs again.
 * `work` must not act outside the database: collect what to report and report it once this returns.
 */
export async function transactional<T>(em: EntityManager, work: (em: EntityManager) => Promise<T>): Promise<T> {
  if (em.isInTransaction()) return em.transactional(work);
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await em.transactional(work);
    } catch (error) {
      if (attempt >= TRANSACTION_ATTEMPTS || !isTransactionConflict(error)) throw error;
      await sleep(randomInt(5, 25 * attempt));
    }
  }
}
