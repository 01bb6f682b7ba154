import type { EntityManager } from '@mikro-orm/postgresql';
import type { Pool, PoolClient } from 'pg';
import type { ScheduleTrigger } from '../../protocol/schedules';
import type { TaskSpec } from '../../protocol/taskSpec';
import type { WorkflowTemplate } from '../../protocol/workflow';
import type { Logger } from '../../common/logger';
import {
  dueSchedulesStatement,
  unfinishedSchedulesStatement,
  type DueScheduleRow,
  type ScheduleAdvance,
} from '../sql/schedules';
import { createFirings, type FiringContext, type FiringRequest } from './createFirings';
import { nextFireTimeOf, planFiring } from './fireTimes';
import { inOrmTransaction, inTransaction } from './inTransaction';

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
 * so a firing and its work commit together or not at all. Those whose firings create tasks go on a plain
 * connection, those creating workflows in an ORM transaction (`due` says which kinds are due). A batch that
 * fails is retried one schedule at a time, so one broken schedule cannot stop the others.
 */
export async function fireDueSchedules(
  pool: Pool,
  em: EntityManager,
  firing: Omit<FiringContext, 'em'>,
  logger: Logger,
  due: { tasks: boolean; workflows: boolean },
): Promise<TimeTickReport> {
  const report: TimeTickReport = { fired: 0, skipped: 0, missed: 0 };
  try {
    if (due.tasks) add(report, await inTransaction(pool, (client) => fireLocked(client, firing, null, false)));
    if (due.workflows) add(report, await inOrmTransaction(em, (client, tem) => fireLocked(client, { ...firing, em: tem }, null, true)));
  } catch (error) {
    logger.warn({ err: error }, 'firing the due schedules together failed; firing them one at a time');
    const ids = await inTransaction(pool, async (client) => (await client.query<{ id: string }>(dueSchedulesStatement(null, MAX_PER_TICK))).rows.map((row) => Number(row.id)));
    for (const id of ids) {
      try {
        add(report, await inOrmTransaction(em, (client, tem) => fireLocked(client, { ...firing, em: tem }, [id], null)));
      } catch (failure) {
        logger.error({ err: failure, schedule_id: id }, 'a schedule could not fire; it is tried again at the next tick');
      }
    }
  }
  return report;
}

/** Counts only what committed (a batch that failed and was fired again one at a time is not counted twice). */
function add(report: TimeTickReport, tick: TimeTickReport): void {
  report.fired += tick.fired;
  report.skipped += tick.skipped;
  report.missed += tick.missed;
}

/** Fires what is due among `ids` (null: all) of a kind (dueSchedulesStatement's `workflows`); returns what it did. */
async function fireLocked(client: PoolClient, context: FiringContext, ids: number[] | null, workflows: boolean | null): Promise<TimeTickReport & { ids: number[] }> {
  const report: TimeTickReport = { fired: 0, skipped: 0, missed: 0 };
  const { rows } = await client.query<DueScheduleRow>(dueSchedulesStatement(ids, MAX_PER_TICK, workflows));
  if (rows.length === 0) return { ...report, ids: [] };
  const skipping = rows.filter((row) => row.overlap === 'skip').map((row) => row.name);
  const busy = new Set(
    skipping.length === 0 ? [] : (await client.query<{ schedule: string }>(unfinishedSchedulesStatement(skipping))).rows.map((row) => row.schedule),
  );
  const firings: FiringRequest[] = [];
  const advances: ScheduleAdvance[] = [];
  // Schedules due together with the same trigger (a thousand "0 * * * *") share one next fire time.
  const following = new Map<string, Date>();
  for (const row of rows) {
    const id = Number(row.id);
    const trigger = row.trigger as ScheduleTrigger;
    const next = nextFireTimeOf(trigger);
    if (!next) continue;
    const key = JSON.stringify(trigger);
    const plan = planFiring(next, row.next_fire_at, row.now, row.catch_up, following.get(key));
    following.set(key, plan.next);
    const advance = { id, nextFireAt: plan.next, skipped: 0 };
    advances.push(advance);
    if (!plan.fireTime) {
      report.missed += 1;
    } else if (busy.has(row.name)) {
      advance.skipped = 1;
      report.skipped += 1;
    } else {
      firings.push({ scheduleId: id, scheduleName: row.name, fireTime: plan.fireTime, reason: plan.reason, files: null, spec: row.spec as TaskSpec | null, workflow: row.workflow as WorkflowTemplate | null });
    }
  }
  const { created, failed } = await createFirings(client, firings, advances, context);
  report.fired += created.length;
  report.skipped += failed.length;
  return { ...report, ids: rows.map((row) => Number(row.id)) };
}
