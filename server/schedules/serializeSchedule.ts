import type { Pool } from 'pg';
import type { Schedule } from '../../entities';
import type { Schedule as ScheduleJson, ScheduleFiring as ScheduleFiringJson } from '../../protocol/schedules';
import { scheduleSummariesStatement, type ScheduleSummaryRow } from '../sql/schedules';
import { isoInTimeZone, nextFireTimeOf, upcomingFireTimes } from './fireTimes';

const NEXT_FIRE_TIMES = 5;

/** The API shape of schedules (DESIGN.md "Schedules and triggers"), with their last firings read in one statement. */
export async function serializeSchedules(pool: Pool, rows: Schedule[], now: Date = new Date()): Promise<ScheduleJson[]> {
  if (rows.length === 0) return [];
  const summaries = await pool.query<ScheduleSummaryRow>(scheduleSummariesStatement(rows.map((row) => row.id)));
  const byId = new Map(summaries.rows.map((summary) => [Number(summary.schedule_id), summary]));
  return rows.map((row) => serializeSchedule(row, byId.get(row.id) ?? null, now));
}

export function serializeSchedule(row: Schedule, summary: ScheduleSummaryRow | null, now: Date): ScheduleJson {
  const trigger = row.trigger;
  const next = nextFireTimeOf(trigger);
  const timezone = 'cron' in trigger ? (trigger.timezone ?? 'UTC') : 'UTC';
  const nextFireTimes = row.enabled && next ? upcomingFireTimes(next, new Date(now.getTime() - 1), NEXT_FIRE_TIMES) : [];
  return {
    name: row.name,
    trigger: 'cron' in trigger ? { cron: trigger.cron, timezone } : trigger,
    spec: row.spec ?? null,
    workflow: row.workflow ?? null,
    overlap: row.overlap,
    catch_up: row.catchUp,
    enabled: row.enabled,
    next_fire_times: nextFireTimes.map((time) => ('cron' in trigger ? isoInTimeZone(time, timezone) : time.toISOString())),
    last_firing: summary?.fire_time ? serializeFiring(summary) : null,
    firings_count: Number(row.firingsCount),
    skipped_count: Number(row.skippedCount),
    pending_files: 'files' in trigger ? Number(summary?.pending_files ?? 0) : null,
    last_error: row.lastError ?? null,
    created_at: new Date(row.createdAt).toISOString(),
    updated_at: new Date(row.updatedAt).toISOString(),
  };
}

export function serializeFiring(firing: Pick<ScheduleSummaryRow, 'fire_time' | 'reason' | 'work_request_id' | 'workflow_id' | 'files' | 'status' | 'result'>): ScheduleFiringJson {
  return {
    fire_time: new Date(firing.fire_time!).toISOString(),
    reason: firing.reason ?? 'scheduled',
    work_request_id: firing.work_request_id === null ? null : Number(firing.work_request_id),
    workflow_id: firing.workflow_id,
    status: firing.status,
    result: firing.result,
    files: firing.files,
  };
}
