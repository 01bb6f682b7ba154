import type { WorkflowStatus } from '../../protocol/workflow';

/**
 * Statements of the schedules tick and of firing, run on a plain pg connection. Each takes arrays, so a tick
 * costs the same few statements however many schedules are due.
 */

/**
 * A firing of this schedule creates a workflow (a template, or a single_file_task spec), so it needs the ORM's
 * transaction; the others fire on a plain connection, which costs a tick less.
 */
const CREATES_WORKFLOW = `(workflow is not null or (spec->>'single_file_task')::boolean is true)`;

/**
 * Whether a time-triggered schedule is due (one whose firing creates tasks, one whose firing creates a
 * workflow), and whether any files schedule is enabled (files triggers have no next fire time): the whole cost
 * of a tick with nothing to do, one statement without a lock or a transaction.
 */
export const SCHEDULES_PROBE_STATEMENT = {
  name: 'worksched_schedules_probe',
  text: `select exists (select 1 from schedule where enabled and next_fire_at is not null and next_fire_at <= now() and not ${CREATES_WORKFLOW}) as due,
       exists (select 1 from schedule where enabled and next_fire_at is not null and next_fire_at <= now() and ${CREATES_WORKFLOW}) as due_workflows,
       exists (select 1 from schedule where enabled and next_fire_at is null) as files`,
};

export interface DueScheduleRow {
  id: string;
  name: string;
  trigger: unknown;
  spec: unknown;
  workflow: unknown;
  overlap: 'skip' | 'allow';
  catch_up: 'none' | 'latest';
  next_fire_at: Date;
  now: Date;
}

/**
 * The due time-triggered schedules, locked: a replica ticking at the same moment skips them (and, once this
 * transaction commits, no longer finds them due). `$1` restricts to some ids (null: all); `workflows` to those
 * whose firing creates a workflow (true), or tasks (false), or either (null).
 */
export function dueSchedulesStatement(ids: number[] | null, limit: number, workflows: boolean | null = null) {
  return {
    name: 'worksched_schedules_due',
    text: `select id, name, trigger, spec, workflow, overlap, catch_up, next_fire_at, now() as now from schedule
     where enabled and next_fire_at is not null and next_fire_at <= now() and ($1::bigint[] is null or id = any($1::bigint[]))
       and ($3::boolean is null or ${CREATES_WORKFLOW} = $3::boolean)
     order by next_fire_at, id limit $2
     for update skip locked`,
    values: [ids, limit, workflows],
  };
}

/** Which of these schedules have work that has not ended (overlap: skip waits for it). */
export function unfinishedSchedulesStatement(names: string[]) {
  return {
    name: 'worksched_schedules_unfinished',
    text: `select distinct schedule from work_request where schedule = any($1::text[]) and status in ('blocked', 'pending', 'running')
     union
     select s.name from schedule s join schedule_firing f on f.schedule_id = s.id join workflow w on w.workflow_id = f.workflow_id
     where s.name = any($1::text[]) and f.workflow_id is not null and w.status in ('PENDING', 'RUNNING')`,
    values: [names],
  };
}

export interface NewFiring {
  scheduleId: number;
  fireTime: Date;
  reason: 'scheduled' | 'catch_up' | 'manual' | 'files';
  files: string[] | null;
}

/**
 * What a firing statement does to a schedule besides its new firings: its next fire time (null keeps it: files
 * triggers, trigger), fire times skipped, and `error` for last_error (undefined leaves it, null clears it).
 */
export interface ScheduleAdvance {
  id: number;
  nextFireAt: Date | null;
  skipped: number;
  error?: string | null;
}

/**
 * Inserts firings and moves their schedules on, in one statement: a key (schedule, fire_time) that exists
 * already is left alone and not returned, and each schedule's firings_count grows by the firings inserted.
 */
export function insertFiringsStatement(firings: NewFiring[], advances: ScheduleAdvance[]) {
  return {
    name: 'worksched_schedules_insert_firings',
    text: `with inserted as (
       insert into schedule_firing (schedule_id, fire_time, reason, files, created_at)
       select f.schedule_id, f.fire_time, f.reason, f.files::jsonb, now()
       from unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[]) as f(schedule_id, fire_time, reason, files)
       on conflict (schedule_id, fire_time) do nothing
       returning id, schedule_id, fire_time
     ), advanced as (
       update schedule s set next_fire_at = coalesce(u.next_fire_at, s.next_fire_at),
         firings_count = s.firings_count + (select count(*) from inserted i where i.schedule_id = s.id),
         skipped_count = s.skipped_count + u.skipped,
         last_error = case when u.set_error then u.error else s.last_error end
       from unnest($5::bigint[], $6::timestamptz[], $7::int[], $8::boolean[], $9::text[]) as u(id, next_fire_at, skipped, set_error, error)
       where s.id = u.id
     )
     select id, schedule_id, fire_time from inserted`,
    values: [
      firings.map((firing) => firing.scheduleId),
      firings.map((firing) => firing.fireTime),
      firings.map((firing) => firing.reason),
      firings.map((firing) => (firing.files ? JSON.stringify(firing.files) : null)),
      advances.map((advance) => advance.id),
      advances.map((advance) => advance.nextFireAt),
      advances.map((advance) => advance.skipped),
      advances.map((advance) => advance.error !== undefined),
      advances.map((advance) => advance.error ?? null),
    ],
  };
}

/**
 * The firings' links to what they created (a work request, which carries `schedule` from its insert, or a
 * workflow), and `schedule` on every task of those workflows.
 */
export function linkFiringsStatement(links: Array<{ firingId: number; workRequestId: number | null; workflowId: string | null }>, scheduleName: Map<string, string>) {
  return {
    name: 'worksched_schedules_link_firings',
    text: `with linked as (
       update schedule_firing f set work_request_id = l.work_request_id, workflow_id = l.workflow_id
       from unnest($1::bigint[], $2::bigint[], $3::text[]) as l(firing_id, work_request_id, workflow_id) where f.id = l.firing_id
     )
     update work_request r set schedule = w.schedule
     from unnest($4::text[], $5::text[]) as w(workflow_id, schedule) where r.workflow_id = w.workflow_id`,
    values: [
      links.map((link) => link.firingId),
      links.map((link) => link.workRequestId),
      links.map((link) => link.workflowId),
      [...scheduleName.keys()],
      [...scheduleName.values()],
    ],
  };
}

export const FILE_SCHEDULES_STATEMENT = {
  name: 'worksched_schedules_files',
  text: `select id, trigger from schedule where enabled and trigger ? 'files' order by id`,
};

export interface LockedScheduleRow {
  id: string;
  name: string;
  trigger: unknown;
  spec: unknown;
  workflow: unknown;
  overlap: 'skip' | 'allow';
  enabled: boolean;
  now: Date;
}

/** One schedule, locked for firing; `skipLocked` for the tick (someone else is at it), waiting for a manual trigger. */
export function lockScheduleStatement(id: number, skipLocked: boolean) {
  return {
    text: `select id, name, trigger, spec, workflow, overlap, enabled, clock_timestamp() as now from schedule where id = $1 for update${skipLocked ? ' skip locked' : ''}`,
    values: [id],
  };
}

export interface SeenFile {
  path: string;
  size: bigint;
  mtimeNs: bigint;
}

/** Records files a files trigger found; those seen before (same path, size and mtime) are left as they are. */
export function insertSeenFilesStatement(scheduleId: number, files: SeenFile[]) {
  return {
    name: 'worksched_schedules_insert_files',
    text: `insert into schedule_file (schedule_id, path, size, mtime_ns, seen_at)
     select $1, f.path, f.size, f.mtime_ns, clock_timestamp()
     from unnest($2::text[], $3::bigint[], $4::bigint[]) with ordinality as f(path, size, mtime_ns, position)
     order by f.position
     on conflict do nothing`,
    values: [scheduleId, files.map((file) => file.path), files.map((file) => file.size.toString()), files.map((file) => file.mtimeNs.toString())],
  };
}

/** Files waiting for a firing, first seen first. */
export function pendingFilesStatement(scheduleId: number) {
  return {
    name: 'worksched_schedules_pending_files',
    text: `select path, size, mtime_ns from schedule_file where schedule_id = $1 and firing_id is null order by seen_at, path`,
    values: [scheduleId],
  };
}

/** Sets the firing of files (or, with firing null, deletes pending files that are gone or changed). */
export function assignFilesStatement(scheduleId: number, files: Array<SeenFile & { firingId: number | null }>) {
  return {
    name: 'worksched_schedules_assign_files',
    text: `with given as (
       select * from unnest($2::text[], $3::bigint[], $4::bigint[], $5::bigint[]) as g(path, size, mtime_ns, firing_id)
     ), gone as (
       delete from schedule_file f using given g
       where g.firing_id is null and f.schedule_id = $1 and f.path = g.path and f.size = g.size and f.mtime_ns = g.mtime_ns and f.firing_id is null
     )
     update schedule_file f set firing_id = g.firing_id from given g
     where g.firing_id is not null and f.schedule_id = $1 and f.path = g.path and f.size = g.size and f.mtime_ns = g.mtime_ns`,
    values: [
      scheduleId,
      files.map((file) => file.path),
      files.map((file) => file.size.toString()),
      files.map((file) => file.mtimeNs.toString()),
      files.map((file) => file.firingId),
    ],
  };
}

/** Records (or clears, with null) why the last look at a files trigger's folder failed; a no-op when unchanged. */
export function setScheduleErrorStatement(scheduleId: number, error: string | null) {
  return {
    name: 'worksched_schedules_set_error',
    text: `update schedule set last_error = $2 where id = $1 and last_error is distinct from $2`,
    values: [scheduleId, error],
  };
}

export interface ScheduleSummaryRow {
  schedule_id: string;
  fire_time: Date | null;
  reason: 'scheduled' | 'catch_up' | 'manual' | 'files' | null;
  work_request_id: string | null;
  workflow_id: string | null;
  files: string[] | null;
  status: 'blocked' | 'pending' | 'running' | 'completed' | 'aborted' | WorkflowStatus | null;
  result: 'success' | 'failure' | 'error' | 'skipped' | null;
  pending_files: string;
}

/**
 * Per schedule: its last firing, how that firing's work stands now (its latest attempt: retries supersede the
 * first one) and how many files wait for a batch.
 */
export function scheduleSummariesStatement(scheduleIds: number[]) {
  return {
    name: 'worksched_schedules_summaries',
    text: `select s.id as schedule_id, f.fire_time, f.reason, f.work_request_id, f.workflow_id, f.files,
       coalesce(latest.status, w.status) as status, latest.result,
       (select count(*) from schedule_file sf where sf.schedule_id = s.id and sf.firing_id is null) as pending_files
     from unnest($1::bigint[]) as s(id)
     left join lateral (select * from schedule_firing f where f.schedule_id = s.id order by f.id desc limit 1) f on true
     left join lateral (
       with recursive chain as (
         select r.status, r.result, r.superseded_by_id, 1 as depth from work_request r where r.id = f.work_request_id
         union all
         select r.status, r.result, r.superseded_by_id, c.depth + 1 from work_request r join chain c on r.id = c.superseded_by_id where c.depth < 1000
       )
       select status, result from chain order by depth desc limit 1
     ) latest on true
     left join workflow w on w.workflow_id = f.workflow_id`,
    values: [scheduleIds],
  };
}
