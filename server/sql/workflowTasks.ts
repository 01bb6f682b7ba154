import type { SqlStatement } from './statement';
import { IDS_PER_NOTIFICATION } from '../notifications';

/**
 * Statements of workflow tasks, for rawQuery (`?` placeholders, values bound as parameters: a JS array is a
 * PostgreSQL array, never spliced into the text). Lists of rows travel as one JSON parameter: json, not jsonb,
 * where task_data is inside (jsonb reorders object keys, and the order of `parameters` is the command line's
 * order). A task's current attempt is found by (workflow_id, task_id) among rows not superseded, through the
 * index of the work_request_current_task_excl constraint; lookups driven by task ids are fenced (`offset 0`,
 * `limit 1`) so that the planner probes that index per id instead of scanning the workflow's rows.
 */

/** One new task row, as insertWorkflowTasksStatement takes it. */
export interface NewWorkflowTaskValues {
  task_id: string;
  task_name: string;
  subject: string | null;
  context: string | null;
  status: 'blocked' | 'pending';
  priority: number;
  task_data: unknown;
  requirements: unknown;
  learned_requirements: unknown;
  need_memory: number | null;
  need_disk: number | null;
  need_cpu: number | null;
  need_gpu: number | null;
  need_tags: string[];
  unschedulable_reason: string | null;
  max_attempts: number;
  time_limit_s: number | null;
  interrupt_allowed: boolean;
  user_metadata: unknown;
  allow_failure: boolean;
  state_reason: string | null;
  waiting_for_slot: boolean;
}

/**
 * Inserts a workflow's new tasks as first attempts — pending where nothing holds them back (requirements
 * already learned), else blocked — and their edges, in one statement. Answers only how many (not 10,000 rows).
 * Tasks added to a scheduled workflow carry its `schedule` as its first tasks do (the firing sets theirs).
 */
export function insertWorkflowTasksStatement(workflowId: string, rows: NewWorkflowTaskValues[], edges: Array<{ task_id: string; depends_on: string }>): SqlStatement {
  return {
    text: `with inserted as (
       insert into work_request (task_name, subject, context, status, priority, priority_adjustment, task_data, requirements,
         learned_requirements, need_memory, need_disk, need_cpu, need_gpu, need_tags, unschedulable_reason, attempt, max_attempts,
         time_limit_s, interrupt_allowed, user_metadata, state_reason, workflow_id, task_id, allow_failure, waiting_for_slot, schedule, created_at)
       select t.task_name, t.subject, t.context, t.status, t.priority, 0, t.task_data, t.requirements::jsonb, t.learned_requirements::jsonb,
         t.need_memory, t.need_disk, t.need_cpu, t.need_gpu, array(select json_array_elements_text(t.need_tags)), t.unschedulable_reason,
         1, t.max_attempts, t.time_limit_s, t.interrupt_allowed, t.user_metadata::jsonb, t.state_reason, ?, t.task_id, t.allow_failure,
         t.waiting_for_slot, (select s.schedule from work_request s where s.workflow_id = ? and s.schedule is not null limit 1),
         date_trunc('milliseconds', now())
       from json_to_recordset(?::json) as t(task_id text, task_name text, subject text, context text, status text,
         priority int, task_data json, requirements json, learned_requirements json, need_memory bigint, need_disk bigint, need_cpu int,
         need_gpu int, need_tags json, unschedulable_reason text, max_attempts int, time_limit_s int, interrupt_allowed boolean,
         user_metadata json, allow_failure boolean, state_reason text, waiting_for_slot boolean)
       returning id, task_id, status
     ), edges as (
       insert into workflow_dependency (workflow_id, task_id, depends_on)
       -- New task ids only (planWorkflowTasks): no conflict to resolve, so a plain insert.
       select ?, e.task_id, e.depends_on from unnest(?::text[], ?::text[]) as e(task_id, depends_on)
     )
     select count(*)::int as inserted from inserted`,
    values: [workflowId, workflowId, JSON.stringify(rows), workflowId, edges.map((edge) => edge.task_id), edges.map((edge) => edge.depends_on)],
  };
}

/** What settleWorkflow needs of a blocked task to decide it: its own columns and each dependency's current attempt. */
export interface BlockedTaskRow {
  id: string;
  task_id: string;
  task_name: string;
  subject: string | null;
  context: string | null;
  requirements: Record<string, unknown>;
  task_data: { execution: { parameters: Record<string, unknown> }; use_history: boolean };
  dependencies: Array<{ task_id: string; status: string; result: string | null; allow_failure: boolean }>;
}

const BLOCKED_TASK_COLUMNS = `r.id, r.task_id, r.task_name, r.subject, r.context, r.requirements, r.task_data,
       coalesce((select json_agg(json_build_object('task_id', d.task_id, 'status', d.status, 'result', d.result, 'allow_failure', d.allow_failure))
         from workflow_dependency e
         cross join lateral (select d.* from work_request d where d.workflow_id = e.workflow_id and d.task_id = e.depends_on
           and d.task_id is not null and d.superseded_by_id is null limit 1) d
         where e.workflow_id = r.workflow_id and e.task_id = r.task_id), '[]'::json) as dependencies`;

/**
 * The blocked current attempts among `candidates` (task ids) and among the direct dependants of `finished`
 * (task ids), with their dependencies' current attempts: an index range per finished task, so O(direct
 * dependants). With `allBlocked`, every blocked task of the workflow (admission and resume).
 */
export function blockedTasksStatement(workflowId: string, candidates: string[], finished: string[], allBlocked: boolean): SqlStatement {
  if (allBlocked) {
    return {
      text: `select ${BLOCKED_TASK_COLUMNS} from work_request r
       where r.workflow_id = ? and r.status = 'blocked' and r.task_id is not null and r.superseded_by_id is null order by r.id`,
      values: [workflowId],
    };
  }
  // Driven by the task ids (a lookup each in the current-attempt index), never by a scan of the blocked rows.
  return {
    text: `with ids as (
       select c.task_id from unnest(?::text[]) as c(task_id)
       union
       select d.task_id from unnest(?::text[]) as f(task_id)
       cross join lateral (select e.task_id from workflow_dependency e where e.workflow_id = ? and e.depends_on = f.task_id offset 0) d
     )
     select ${BLOCKED_TASK_COLUMNS} from ids
     cross join lateral (select r.* from work_request r where r.workflow_id = ? and r.task_id = ids.task_id
       and r.task_id is not null and r.superseded_by_id is null limit 1) r
     where r.status = 'blocked'
     order by r.id`,
    values: [candidates, finished, workflowId, workflowId],
  };
}

/**
 * For a completion that holds its workflow's row only FOR KEY SHARE (settleCompletedTasks), so that completions
 * in one workflow run side by side: locks the blocked current attempts that depend on the `finished` tasks, in id
 * order, and answers their ids. A dependant that a concurrent completion is deciding is waited for; one it
 * released meanwhile is not answered (the status is checked again on the newest row version).
 */
export function lockBlockedDependantsStatement(workflowId: string, finished: string[]): SqlStatement {
  return {
    text: `select r.id from work_request r
     where r.id = any(array(
       select c.id from unnest(?::text[]) as f(task_id)
       cross join lateral (select e.task_id from workflow_dependency e where e.workflow_id = ? and e.depends_on = f.task_id offset 0) d
       cross join lateral (select c.id from work_request c where c.workflow_id = ? and c.task_id = d.task_id
         and c.task_id is not null and c.superseded_by_id is null limit 1) c
     )) and r.status = 'blocked'
     order by r.id for update`,
    values: [finished, workflowId, workflowId],
  };
}

/** Blocked tasks by id (locked beforehand), with their dependencies' current attempts as this statement sees them. */
export function blockedTasksByIdStatement(ids: number[]): SqlStatement {
  return {
    text: `select ${BLOCKED_TASK_COLUMNS} from work_request r where r.id = any(?::bigint[]) and r.status = 'blocked' order by r.id`,
    values: [ids],
  };
}

/** A ready task's requirement columns worked out before the locks (releasing it leaves its task_data as it is). */
export type PreparedReleaseValues = Omit<ReleasedTaskValues, 'task_data'>;

/**
 * After lockBlockedDependantsStatement, in one statement: of the locked tasks `ids`, those with values in
 * `prepared` whose dependencies all completed with success (or ended with allow_failure) become pending (waking
 * claimers on `pendingWorkChannel` unless null); answers how many, and the others as BlockedTaskRow (as this
 * statement sees them, before the update) for settleCompletedTasks to decide.
 */
export function releasePreparedStatement(ids: number[], prepared: PreparedReleaseValues[], pendingWorkChannel: string | null): SqlStatement {
  const notify = pendingWorkChannel !== null;
  return {
    text: `with released as (
       update work_request w
       set status = 'pending', learned_requirements = t.learned_requirements::jsonb,
         need_memory = t.need_memory, need_disk = t.need_disk, need_cpu = t.need_cpu, need_gpu = t.need_gpu,
         need_tags = array(select json_array_elements_text(t.need_tags)), unschedulable_reason = t.unschedulable_reason, state_reason = null,
         waiting_for_slot = false
       from json_to_recordset(?::json) as t(id bigint, learned_requirements json, need_memory bigint, need_disk bigint,
         need_cpu int, need_gpu int, need_tags json, unschedulable_reason text)
       where w.id = any(?::bigint[]) and w.id = t.id and w.status = 'blocked'
         and not exists (select 1 from workflow_dependency e
           cross join lateral (select d.status, d.result, d.allow_failure from work_request d where d.workflow_id = e.workflow_id
             and d.task_id = e.depends_on and d.task_id is not null and d.superseded_by_id is null limit 1) d
           where e.workflow_id = w.workflow_id and e.task_id = w.task_id
             and not (d.status in ('completed', 'aborted') and (d.result = 'success' or d.allow_failure)))
       returning w.id
     )${notify ? `,
     notified as materialized (select pg_notify(?, (select count(*) from released)::text))` : ''}
     select (select count(*)::int from released) as released,
       coalesce((select json_agg(x order by x.id) from (select ${BLOCKED_TASK_COLUMNS} from work_request r
         where r.id = any(?::bigint[]) and r.status = 'blocked' and r.id not in (select id from released)) x), '[]'::json) as blocked
     ${notify ? 'from notified' : ''}`,
    values: [JSON.stringify(prepared), ids, ...(notify ? [pendingWorkChannel] : []), ids],
  };
}

/** A request's workflow, and what learning requirements needs of each blocked direct dependant of its task. */
export interface DependantToLearnRow {
  request_id: string;
  /** The dependant's id and parameters (null when nothing of it waits). */
  dependant_id: string | null;
  parameters: Record<string, unknown> | null;
  /** Its workflow may take the completion without its exclusive lock (settleCompletedTasks); read unlocked. */
  concurrent: boolean;
  workflow_id: string;
  task_name: string | null;
  subject: string | null;
  context: string | null;
  requirements: Record<string, unknown> | null;
  use_history: boolean | null;
}

/**
 * Before a completion locks anything: the workflows of these requests (one row with null dependant columns
 * when nothing of it waits), and the blocked current attempts that depend on their tasks, by the same index
 * lookups as blockedTasksStatement. Unlocked reads: workflow_id and the edges never change; a dependant read
 * here that another transaction supersedes only costs its release a learning query of its own.
 */
export function dependantsOfRequestsStatement(ids: number[]): SqlStatement {
  return {
    text: `select f.id as request_id, f.workflow_id, d.id as dependant_id, d.task_data -> 'execution' -> 'parameters' as parameters, d.task_name, d.subject, d.context, d.requirements, (d.task_data ->> 'use_history')::boolean as use_history,
       coalesce((select w.status = 'RUNNING' and w.max_running is null and w.budget is null and w.max_cost_per_result is null
         from workflow w where w.workflow_id = f.workflow_id), false) as concurrent
     from work_request f
     left join lateral (
       select r.id, r.task_name, r.subject, r.context, r.requirements, r.task_data from workflow_dependency e
       cross join lateral (select r.* from work_request r where r.workflow_id = e.workflow_id and r.task_id = e.task_id
         and r.task_id is not null and r.superseded_by_id is null limit 1) r
       where e.workflow_id = f.workflow_id and e.depends_on = f.task_id and r.status = 'blocked' offset 0
     ) d on true
     where f.id = any(?::bigint[]) and f.workflow_id is not null`,
    values: [ids],
  };
}

/**
 * A limited workflow's ready tasks that wait for a slot (waiting_for_slot), the next `count` to release: task
 * priority, then creation order, through work_request_slot_wait_idx.
 */
export function waitingForSlotStatement(workflowId: string, count: number): SqlStatement {
  return {
    text: `select r.id, r.task_id, r.task_name, r.subject, r.context, r.requirements, r.task_data, '[]'::json as dependencies
     from work_request r where r.workflow_id = ? and r.status = 'blocked' and r.waiting_for_slot
     order by r.priority desc, r.id limit ?`,
    values: [workflowId, count],
  };
}

/** Ready tasks of a limited workflow with no free slot: they stay blocked, marked to be released in turn. */
export function markWaitingForSlotStatement(ids: number[], reason: string): SqlStatement {
  return {
    text: `update work_request set waiting_for_slot = true, state_reason = ? where id = any(?::bigint[]) and status = 'blocked'`,
    values: [reason, ids],
  };
}

/** How many of a workflow's tasks hold a slot (pending or running): at most its max_running. */
export function slotsTakenStatement(workflowId: string): SqlStatement {
  return {
    text: `select count(*)::int as taken from work_request where workflow_id = ? and status in ('pending', 'running')`,
    values: [workflowId],
  };
}

/**
 * Blocked tasks whose dependencies failed: completed as skipped, with the reason. Answers their task ids. The
 * ids again as an array: the planner sees how few rows there are and looks them up by primary key.
 */
export function skipTasksStatement(skips: Array<{ id: number; skip_reason: string }>): SqlStatement {
  return {
    text: `update work_request w
       set status = 'completed', result = 'skipped', output_data = jsonb_build_object('skip_reason', s.skip_reason),
         state_reason = 'skipped: ' || s.skip_reason, completed_at = date_trunc('milliseconds', now()), waiting_for_slot = false
       from json_to_recordset(?::json) as s(id bigint, skip_reason text)
       where w.id = any(?::bigint[]) and w.id = s.id and w.status = 'blocked'
       returning w.task_id`,
    values: [JSON.stringify(skips), skips.map((skip) => skip.id)],
  };
}

/** Ready tasks become pending with what was worked out at that moment (learned requirements, filled-in parameters). */
export interface ReleasedTaskValues {
  id: number;
  task_data: unknown;
  learned_requirements: unknown;
  need_memory: number | null;
  need_disk: number | null;
  need_cpu: number | null;
  need_gpu: number | null;
  need_tags: string[];
  unschedulable_reason: string | null;
}

/**
 * Makes them pending and, in the same statement, wakes claimers (channel `pendingWorkChannel`) as many as it
 * released; with no channel it wakes nobody (the caller sends the wake-up after the commit).
 */
export function releaseTasksStatement(rows: ReleasedTaskValues[], pendingWorkChannel: string | null): SqlStatement {
  const notify = pendingWorkChannel !== null;
  return {
    text: `with released as (
       update work_request w
       set status = 'pending', task_data = t.task_data, learned_requirements = t.learned_requirements::jsonb,
         need_memory = t.need_memory, need_disk = t.need_disk, need_cpu = t.need_cpu, need_gpu = t.need_gpu,
         need_tags = array(select json_array_elements_text(t.need_tags)), unschedulable_reason = t.unschedulable_reason, state_reason = null,
         waiting_for_slot = false
       from json_to_recordset(?::json) as t(id bigint, task_data json, learned_requirements json, need_memory bigint, need_disk bigint,
         need_cpu int, need_gpu int, need_tags json, unschedulable_reason text)
       where w.id = any(?::bigint[]) and w.id = t.id and w.status = 'blocked'
       returning w.id
     )${notify ? `,
     notified as materialized (select pg_notify(?, (select count(*) from released)::text))` : ''}
     select released.id from released${notify ? ', notified' : ''}`,
    values: [JSON.stringify(rows), rows.map((row) => row.id), ...(notify ? [pendingWorkChannel] : [])],
  };
}

/**
 * CTEs `inserted`, `pointed` and `notified` (after a CTE `old` of current attempts): each old row gets a new
 * blocked attempt that supersedes it, keeping its task, spec and requirements (learned ones are learned again at
 * release); the old attempts' waiters are told. `maxAttempts` and `stateReason` are SQL expressions over the
 * old row; the `?` placeholders in them come first, then the notification channel.
 */
export function supersedingAttemptsCtes(expressions: { maxAttempts: string; stateReason: string }): string {
  return `inserted as (
       insert into work_request (task_name, subject, context, status, priority, priority_adjustment, task_data, requirements,
         learned_requirements, need_memory, need_disk, need_cpu, need_gpu, need_tags, attempt, max_attempts, supersedes_id,
         workflow_id, task_id, allow_failure, time_limit_s, interrupt_allowed, user_metadata, schedule, state_reason, created_at)
       select task_name, subject, context, 'blocked', priority, priority_adjustment, task_data, requirements,
         '[]'::jsonb, need_memory, need_disk, need_cpu, need_gpu, need_tags, attempt + 1, ${expressions.maxAttempts}, id,
         workflow_id, task_id, allow_failure, time_limit_s, interrupt_allowed, user_metadata, schedule,
         ${expressions.stateReason}, date_trunc('milliseconds', now())
       from old order by id
       returning id, supersedes_id, task_id
     ), pointed as (
       update work_request w set superseded_by_id = i.id from inserted i where w.id = i.supersedes_id returning w.id
     ), notified as (${notifyIdsOf('pointed')})`;
}

/** The current attempts' results of some tasks of a workflow (from parameters, inputs). */
export function taskResultsStatement(workflowId: string, taskIds: string[]): SqlStatement {
  return {
    text: `select task_id, status, result, output_data -> 'result' as value from work_request
     where workflow_id = ? and task_id = any(?::text[]) and superseded_by_id is null`,
    values: [workflowId, taskIds],
  };
}

/**
 * What the claim hands workflow task `r` in `inputs`, as one jsonb object: its direct dependencies' results
 * (null for one that did not succeed); `{}` without dependencies. An expression of the claim statement itself.
 */
export function claimedInputsSql(r: string): string {
  return `(select coalesce(jsonb_object_agg(e.depends_on,
         (select case when d.result = 'success' then d.output_data -> 'result' end from work_request d
          where d.workflow_id = e.workflow_id and d.task_id = e.depends_on and d.task_id is not null and d.superseded_by_id is null)), '{}'::jsonb)
       from workflow_dependency e where e.workflow_id = ${r}.workflow_id and e.task_id = ${r}.task_id)`;
}

/** Ray's start_time: when the first task (of this run, after a resume) started. $1: workflow ids. */
export const WORKFLOW_STARTED_STATEMENT = {
  name: 'worksched_workflow_started',
  text: `update workflow set start_time = date_trunc('milliseconds', now()), updated_at = now()
     where workflow_id = any($1::text[]) and start_time is null`,
};


/** A CTE body that notifies work-request activity for the `id`s of CTE `source`, in groups; its channel is the next `?`. */
export function notifyIdsOf(source: string): string {
  return `select pg_notify(?, string_agg(id::text, ',')) from (
         select id, (row_number() over () - 1) / ${IDS_PER_NOTIFICATION} as part from ${source}
       ) numbered group by part`;
}
