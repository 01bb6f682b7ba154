import type { EntityManager } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import type { Schedule } from '../../entities';
import type { ScheduleFiring } from '../../protocol/schedules';
import type { TaskSpec } from '../../protocol/taskSpec';
import type { WorkflowTemplate } from '../../protocol/workflow';
import { ConflictError, NotFoundError } from '../errors';
import { lockScheduleStatement, type LockedScheduleRow } from '../sql/schedules';
import { createFirings, type CreatedFiring, type FiringContext } from './createFirings';
import { fireFileSchedule } from './fireFileSchedules';
import { inOrmTransaction } from './inTransaction';

/**
 * Fires a schedule now, whether paused or not and whatever its overlap policy (as `kubectl create job
 * --from=cronjob/…`): a cron or every trigger fires once at the current time; a files trigger fires every
 * pending file, a partial batch included (none when no file waits). Fire times past and future are left alone.
 */
export async function triggerSchedule(pool: Pool, em: EntityManager, firing: Omit<FiringContext, 'em'>, row: Schedule): Promise<ScheduleFiring[]> {
  if ('files' in row.trigger) {
    const outcome = await fireFileSchedule(pool, em, firing, row.id, row.trigger, { manual: true });
    if (outcome.error) throw new ConflictError(outcome.error, 'schedule_folder_unreadable');
    return outcome.firings.map((made) => created(made, 'manual', made.files));
  }
  const made = await inOrmTransaction(em, async (client, tem) => {
    const locked = (await client.query<LockedScheduleRow>(lockScheduleStatement(row.id, false))).rows[0];
    if (!locked) throw new NotFoundError(`schedule ${JSON.stringify(row.name)} does not exist`);
    // The key is (schedule, fire_time) in ms: a scheduled time on this very millisecond takes the next one.
    for (let offset = 0; offset < 10; offset += 1) {
      const fireTime = new Date(locked.now.getTime() + offset);
      const request = { scheduleId: row.id, scheduleName: locked.name, fireTime, reason: 'manual' as const, files: null, spec: locked.spec as TaskSpec | null, workflow: locked.workflow as WorkflowTemplate | null };
      const { created: [fresh], failed: [failure] } = await createFirings(client, [request], [{ id: row.id, nextFireAt: null, skipped: 0 }], { ...firing, em: tem });
      if (failure) throw new ConflictError(failure.message, 'schedule_expansion_failed');
      if (fresh) return fresh;
    }
    throw new Error(`schedule ${row.name}: no free fire time near ${locked.now.toISOString()}`);
  });
  return [created(made, 'manual', null)];
}

const created = (firing: Pick<CreatedFiring, 'fireTime' | 'workRequestId' | 'workflowId' | 'workflowStatus'>, reason: 'manual', files: string[] | null): ScheduleFiring => ({
  fire_time: firing.fireTime.toISOString(),
  reason,
  work_request_id: firing.workRequestId,
  workflow_id: firing.workflowId,
  status: firing.workflowStatus ?? 'pending',
  result: null,
  files,
});
