import type { EntityManager } from '@mikro-orm/postgresql';

/** Stable advisory-lock keys: one per housekeeping job, so each runs on one server process at a time. */
export const ADVISORY_LOCKS = {
  lostWorkers: 0x77730001,
  unschedulable: 0x77730002,
  historyRetention: 0x77730003,
  schedules: 0x77730004,
  estimates: 0x77730005,
  preemption: 0x77730006,
  efficiency: 0x77730007,
  scheduleFiringRetention: 0x77730008,
  estimateRetention: 0x77730009,
} as const;

/**
 * Runs `job` in a transaction holding the advisory lock `key`, or skips it (returns null) when another server
 * process holds it. The lock is transaction-scoped, so a crashed runner cannot leave it behind.
 */
export async function runWithAdvisoryLock<T>(em: EntityManager, key: number, job: (em: EntityManager) => Promise<T>): Promise<T | null> {
  return em.transactional(async (tem) => {
    const rows = await tem.execute<{ locked: boolean }[]>(`select pg_try_advisory_xact_lock(?) as locked`, [key]);
    if (!rows[0]?.locked) return null;
    return job(tem);
  });
}
