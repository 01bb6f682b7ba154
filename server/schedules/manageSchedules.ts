import fs from 'node:fs/promises';
import { UniqueConstraintViolationException, type EntityManager } from '@mikro-orm/postgresql';
import { Schedule } from '../../entities';
import type { NewSchedule, ScheduleTrigger } from '../../protocol/schedules';
import { ConflictError, NotFoundError, ValidationError } from '../errors';
import { planWorkflowTasks } from '../workflows/planWorkflowTasks';
import { nextFireTimeOf, serverTimeZone } from './fireTimes';
import { describeFolderError } from './scanFolder';

export async function findSchedule(em: EntityManager, name: string): Promise<Schedule> {
  const row = await em.findOne(Schedule, { name });
  if (!row) throw new NotFoundError(`schedule ${JSON.stringify(name)} does not exist`);
  return row;
}

export function listSchedules(em: EntityManager, filter: { enabled?: boolean }): Promise<Schedule[]> {
  return em.find(Schedule, filter.enabled === undefined ? {} : { enabled: filter.enabled }, { orderBy: { name: 'asc' } });
}

/**
 * Stores a schedule; its first fire time is the first after now. The same name and definition again answers
 * the existing one (created: false), so a deploy script may post its schedules at every start; another
 * definition under that name is a 409.
 */
export async function createSchedule(em: EntityManager, body: NewSchedule): Promise<{ row: Schedule; created: boolean }> {
  const trigger: ScheduleTrigger = 'cron' in body.trigger ? { cron: body.trigger.cron, timezone: body.trigger.timezone ?? serverTimeZone() } : body.trigger;
  if ('files' in trigger) await checkFolderReadable(trigger.files.folder);
  // A template's graph is checked now (unknown dependency, cycle: a 400), not at each firing.
  if (body.workflow) checkTemplate(body.workflow.tasks);
  const definition = {
    trigger,
    spec: body.spec ?? null,
    workflow: body.workflow ?? null,
    overlap: body.overlap ?? ('files' in trigger ? 'allow' : 'skip'),
    catchUp: body.catch_up,
  } as const;
  const existing = await em.findOne(Schedule, { name: body.name });
  if (existing) return { row: sameOrConflict(existing, definition), created: false };
  const next = nextFireTimeOf(trigger);
  const row = em.create(Schedule, {
    name: body.name,
    ...definition,
    enabled: body.enabled,
    nextFireAt: next ? next(new Date()) : null,
  });
  try {
    await em.flush();
  } catch (error) {
    if (!(error instanceof UniqueConstraintViolationException)) throw error;
    // Created by another request at the same moment: answer as if it had come first.
    const raced = await em.fork().findOneOrFail(Schedule, { name: body.name });
    return { row: sameOrConflict(raced, definition), created: false };
  }
  return { row, created: true };
}

function sameOrConflict(existing: Schedule, definition: Pick<Schedule, 'trigger' | 'spec' | 'workflow' | 'overlap' | 'catchUp'>): Schedule {
  const stored = canonicalJson({ trigger: existing.trigger, spec: existing.spec ?? null, workflow: existing.workflow ?? null, overlap: existing.overlap, catchUp: existing.catchUp });
  if (stored !== canonicalJson(definition)) {
    throw new ConflictError(`schedule ${JSON.stringify(existing.name)} exists with another definition: delete it first (DELETE /api/v1/schedules/${existing.name})`, 'schedule_exists');
  }
  return existing;
}

/** Pause stops firing; resume fires again from the next fire time after now (what passed while paused is not caught up). */
export async function setScheduleEnabled(em: EntityManager, name: string, enabled: boolean): Promise<Schedule> {
  const row = await findSchedule(em, name);
  if (row.enabled === enabled) return row;
  row.enabled = enabled;
  if (enabled) {
    const next = nextFireTimeOf(row.trigger);
    row.nextFireAt = next ? next(new Date()) : null;
  }
  await em.flush();
  return row;
}

/** Deletes the schedule with its firings and file ledger; the work it created stays (and keeps `schedule`). */
export async function deleteSchedule(em: EntityManager, name: string): Promise<void> {
  const deleted = await em.nativeDelete(Schedule, { name });
  if (deleted === 0) throw new NotFoundError(`schedule ${JSON.stringify(name)} does not exist`);
}

/** planWorkflowTasks's 400, its paths under `workflow.` as in the request. */
function checkTemplate(tasks: NonNullable<NewSchedule['workflow']>['tasks']): void {
  try {
    planWorkflowTasks(tasks, new Set(), 'schedule');
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    const issues = (error.issues ?? []).map((issue) => ({ ...issue, path: `workflow.${issue.path}` }));
    throw new ValidationError(`invalid schedule: ${issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ')}`, issues);
  }
}

/** The server reads a files trigger's folder (the workers must see the same path): one it cannot read is refused. */
async function checkFolderReadable(folder: string): Promise<void> {
  try {
    await fs.readdir(folder);
  } catch (error) {
    const message = describeFolderError(folder, error);
    throw new ValidationError(`invalid schedule: trigger.files.folder: ${message}`, [{ path: 'trigger.files.folder', message }]);
  }
}

/** JSON with object keys sorted, so that two definitions compare equal whatever order their keys came in. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    item && typeof item === 'object' && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : item,
  );
}
