import type { Pool } from 'pg';
import type { Logger } from '../../common/logger';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { FileTriggers } from './fireFileSchedules';
import { fireDueSchedules } from './fireDueSchedules';

export interface SchedulesTickReport {
  fired: number;
  skipped: number;
  missed: number;
}

/** One server process's schedules tick: the due cron and every schedules, then the files schedules' folders. */
export function schedulesTicker(pool: Pool, policy: SchedulingPolicy, logger: Logger): () => Promise<SchedulesTickReport> {
  const files = new FileTriggers(pool, policy, logger);
  return async () => {
    const timed = await fireDueSchedules(pool, policy, logger);
    const filed = await files.tick();
    return { fired: timed.fired + filed.fired, skipped: timed.skipped, missed: timed.missed };
  };
}
