import type { EntityManager } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import type { Logger } from '../../common/logger';
import type { FiringContext } from './createFirings';
import { FileTriggers } from './fireFileSchedules';
import { fireDueSchedules } from './fireDueSchedules';
import { SCHEDULES_PROBE_STATEMENT } from '../sql/schedules';

export interface SchedulesTickReport {
  fired: number;
  skipped: number;
  missed: number;
  /** Files triggers whose folder this tick listed (the others' folders had not changed). */
  looked: number;
}

/**
 * One server process's schedules tick: the due cron and every schedules, then the files schedules' folders.
 * `exclusively` runs the files work under the schedules lock; a tick with nothing to do costs one probe.
 */
export function schedulesTicker(
  pool: Pool,
  em: EntityManager,
  options: { firing: Omit<FiringContext, 'em'>; filesRescanS: number },
  logger: Logger,
  exclusively: <T>(work: () => Promise<T>) => Promise<T | null>,
): () => Promise<SchedulesTickReport> {
  const files = new FileTriggers(pool, em, options.firing, logger, options.filesRescanS * 1000);
  return async () => {
    const probe = (await pool.query<{ due: boolean; due_workflows: boolean; files: boolean }>(SCHEDULES_PROBE_STATEMENT)).rows[0];
    if (!probe?.due && !probe?.due_workflows && !probe?.files) return { fired: 0, skipped: 0, missed: 0, looked: 0 };
    // Due rows are taken FOR UPDATE SKIP LOCKED, so replicas never fire one twice and need no lock for them;
    // reading folders is the work worth sparing the other replicas.
    const timed =
      probe.due || probe.due_workflows
        ? await fireDueSchedules(pool, em, options.firing, logger, { tasks: probe.due, workflows: probe.due_workflows })
        : { fired: 0, skipped: 0, missed: 0 };
    const filed = probe.files ? ((await exclusively(() => files.tick())) ?? { fired: 0, looked: 0 }) : { fired: 0, looked: 0 };
    return { fired: timed.fired + filed.fired, skipped: timed.skipped, missed: timed.missed, looked: filed.looked };
  };
}
