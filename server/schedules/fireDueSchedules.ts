import type { EntityManager } from '@mikro-orm/postgresql';
import type { PoolClient } from 'pg';
import type { ScheduleTrigger } from '../../protocol/schedules';
import type { TaskSpec } from '../../protocol/taskSpec';
import type { WorkflowTemplate } from '../../protocol/workflow';
import type { Logger } from '../../common/logger';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import {
  dueSchedulesStatement,
  unfinishedSchedulesStatement,
  updateSchedulesStatement,
  type DueScheduleRow,
} from '../sql/schedules';
import { createFirings, type FiringRequest } from './createFirings';
import { nextFireTimeOf, planFiring } from './fireTimes';
import { inOrmTransaction } from './inTransaction';

/** At most this many schedules fire in one transaction; the rest are due at the next tick, a second later. */
const MAX_PER_TICK = 2_000;

export interface TimeTickReport {
  fired: number;
  skipped: number;
  missed: number;
}

/**
 * Fires the due cron and every schedules: one transaction locks them (SKIP LOCKED: a replica ticking at the same
 * time takes the others), inserts their firings, creates the work and moves each schedule's next fire time on,
 * so a firing and its work commit together or not at all. A batch that fails is retried one schedule at a
 * time, so one broken schedule cannot stop the others.
 */
export async function fireDueSchedules(em: EntityManager, policy: SchedulingPolicy, logger: Logger): Promise<TimeTickReport> {
  const report: TimeTickReport = { fired: 0, skipped: 0, missed: 0 };
  let due: number[];
  try {
    due = await inOrmTransaction(em, (client, tem) => fireLocked(client, tem, null, policy, report));
  } catch (error) {
    logger.warn({ err: error }, 'firing the due schedules together failed; firing them one at a time');
    due = await inOrmTransaction(em, async (client) => (await client.query<{ id: string }>(dueSchedulesStatement(null, MAX_PER_TICK))).rows.map((row) => Number(row.id)));
    for (const id of due) {
      try {
        await inOrmTransaction(em, (client, tem) => fireLocked(client, tem, [id], policy, report));
      } catch (failure) {
        logger.error({ err: failure, schedule_id: id }, 'a schedule could not fire; it is tried again at the next tick');
      }
    }
  }
  return report;
}

/** Fires what is due among `ids` (null: all); returns the ids it looked at. */
async function fireLocked(client: PoolClient, tem: EntityManager, ids: number[] | null, policy: SchedulingPolicy, report: TimeTickReport): Promise<number[]> {
  const { rows } = await client.query<DueScheduleRow>(dueSchedulesStatement(ids, MAX_PER_TICK));
  if (rows.length === 0) return [];
  const skipping = rows.filter((row) => row.overlap === 'skip').map((row) => row.name);
  const busy = new Set(
    skipping.length === 0 ? [] : (await client.query<{ schedule: string }>(unfinishedSchedulesStatement(skipping))).rows.map((row) => row.schedule),
  );
  const firings: FiringRequest[] = [];
  const updates = new Map<number, { id: number; nextFireAt: Date | null; fired: number; skipped: number }>();
  for (const row of rows) {
    const id = Number(row.id);
    const next = nextFireTimeOf(row.trigger as ScheduleTrigger);
    if (!next) continue;
    const plan = planFiring(next, row.next_fire_at, row.now, row.catch_up);
    const update = { id, nextFireAt: plan.next, fired: 0, skipped: 0 };
    updates.set(id, update);
    if (!plan.fireTime) {
      report.missed += 1;
    } else if (busy.has(row.name)) {
      update.skipped = 1;
      report.skipped += 1;
    } else {
      firings.push({ scheduleId: id, scheduleName: row.name, fireTime: plan.fireTime, reason: plan.reason, files: null, spec: row.spec as TaskSpec | null, workflow: row.workflow as WorkflowTemplate | null });
    }
  }
  for (const firing of await createFirings(client, firings, policy, tem)) {
    updates.get(firing.scheduleId)!.fired += 1;
    report.fired += 1;
  }
  await client.query(updateSchedulesStatement([...updates.values()]));
  return rows.map((row) => Number(row.id));
}
