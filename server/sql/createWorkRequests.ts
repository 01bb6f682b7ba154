import type { HistoryKey } from '../history/historyKey';
import { SUCCESS_PROFILE_COLUMNS } from './successProfile';

/**
 * Statements of the create paths (one request or a batch), run on a plain pg connection as named (prepared)
 * statements: their text is fixed and every value goes in an array parameter, so PostgreSQL plans each once per
 * connection however many requests a call creates.
 */

/**
 * The success profile of one key level over its newest `$4` successful runs (as successProfileQuery), if it has any.
 * Its parameters are read through scalar subqueries (here and in the keys' unnest): a custom plan then estimates
 * what the generic one does, so after five runs PostgreSQL keeps the generic plan. Given the values, it planned
 * every call afresh for one key (0.8–0.9 ms of planning against 0.2 ms of running, in the latency bench).
 */
const profileOfLevel = (level: number, where: string) =>
  `select * from (select ${level} as level, ${SUCCESS_PROFILE_COLUMNS}
         from (select * from task_history h where ${where} and h.result = 'success' order by h.completed_at desc limit (select $4::int)) recent) profile
       where runs > 0`;

/**
 * For every distinct history key of a call, the profile of the most specific level of the fallback chain
 * (historyLevels) that has successful runs; no row for a key without any. One statement for all keys: the
 * levels are an Append under LIMIT 1, so PostgreSQL reads a wider level only when the narrower ones are empty
 * (as learnRequirements' loop does). `key_index` is the key's 1-based position.
 */
export function successProfilesStatement(keys: HistoryKey[], sampleRuns: number) {
  return {
    name: 'worksched_create_success_profiles',
    text: `select k.key_index, p.*
     from unnest((select $1::text[]), (select $2::text[]), (select $3::text[])) with ordinality as k(task_name, subject, context, key_index)
     cross join lateral (
       ${profileOfLevel(1, 'h.task_name = k.task_name and h.subject = k.subject and h.context = k.context')}
       union all
       ${profileOfLevel(2, 'h.task_name = k.task_name and h.subject = k.subject')}
       union all
       ${profileOfLevel(3, 'h.task_name = k.task_name')}
       limit 1
     ) p`,
    values: [keys.map((key) => key.taskName), keys.map((key) => key.subject), keys.map((key) => key.context), sampleRuns],
  };
}

/**
 * successProfilesStatement and the enabled workers' capacities in one statement (one round trip), each as a json
 * array: `profiles` the rows of successProfilesStatement, `workers` {total_memory, available_disk_space, cpu_count,
 * gpu_count, tags}.
 */
export function createReadsStatement(keys: HistoryKey[], sampleRuns: number) {
  const profiles = successProfilesStatement(keys, sampleRuns);
  return {
    name: 'worksched_create_reads',
    text: `select
       (select coalesce(json_agg(p), '[]'::json) from (${profiles.text}) p) as profiles,
       (select coalesce(json_agg(w), '[]'::json)
          from (select total_memory, available_disk_space, cpu_count, gpu_count, tags from worker where enabled) w) as workers`,
    values: profiles.values,
  };
}

/** One new row's values, as insertWorkRequestsStatement takes them (json columns as JSON text). */
export interface NewWorkRequestValues {
  taskName: string;
  subject: string | null;
  context: string | null;
  taskData: string;
  requirements: string;
  learnedRequirements: string;
  needMemory: number | null;
  needDisk: number | null;
  needCpu: number | null;
  needGpu: number | null;
  needTags: string;
  unschedulableReason: string | null;
  priority: number;
  maxAttempts: number;
  timeLimitS: number | null;
  interruptAllowed: boolean;
  userMetadata: string;
  /** The schedule whose firing creates it (null: none). */
  schedule: string | null;
}

/**
 * The rows to insert, one array parameter per column ($1–$18), numbered in input order. Arrays, not one JSON
 * document: a batch of 1,000 through json_to_recordset took about 12 ms (sent and read), the arrays under 4.
 * need_tags is each row's tags as a JSON array text (an array of arrays must be rectangular); most are `[]`, read
 * without a subquery (a subquery a row cost ~1 ms a batch, once in the guard and once in the insert).
 */
const INPUT = `input as (
       select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[],
         $9::int[], $10::int[], $11::text[], $12::text[], $13::int[], $14::int[], $15::int[], $16::boolean[], $17::text[], $18::text[])
         with ordinality as r(task_name, subject, context, task_data, requirements, learned, need_memory, need_disk,
           need_cpu, need_gpu, need_tags, unschedulable_reason, priority, max_attempts, time_limit_s, interrupt_allowed,
           user_metadata, schedule, position)
     ),
     `;

/**
 * Inserts nothing unless every row is what the create path would have computed without reading first: none of
 * the task names in $19 has a successful run (so nothing is learned at any level of the key) and an enabled
 * worker fits each row's needs (so no unschedulable reason). The test of unschedulableReason's workerFits, in SQL.
 */
const GUARD = `guard as materialized (
       select not exists (select 1 from task_history h where h.task_name = any($19::text[]) and h.result = 'success')
         and not exists (
           select 1 from input n
           where not exists (
             select 1 from worker w
             where w.enabled and coalesce(n.need_memory, 0) <= w.total_memory and coalesce(n.need_disk, 0) <= w.available_disk_space
               and coalesce(n.need_cpu, 0) <= w.cpu_count and coalesce(n.need_gpu, 0) <= w.gpu_count
               and (n.need_tags = '[]' or array(select json_array_elements_text(n.need_tags::json)) <@ w.tags))) as ok
     ),
     `;

/** What insertWorkRequestsStatement answers: the new ids in input order and their (one) creation time; ids null when nothing was inserted. */
export interface InsertedWorkRequests {
  ids: number[] | null;
  created_at: Date | null;
}

/**
 * Inserts pending first attempts in input order (ids ascend with it). Given a channel, the same statement (so
 * the same transaction) sends one pending-work notification whose payload is how many rows it created; without
 * one the caller publishes that after the commit (withNotificationsAfterCommit).
 * `guardHistoryOf`: insert only if GUARD holds (the task names whose history would be looked up); ids null
 * means it did not, and nothing was written. One row back, whatever the count (ids as one json array).
 */
export function insertWorkRequestsStatement(rows: NewWorkRequestValues[], pendingWorkChannel: string | null, guardHistoryOf?: string[]) {
  const guarded = guardHistoryOf !== undefined;
  const channelParam = guarded ? 20 : 19;
  const column = <K extends keyof NewWorkRequestValues>(key: K) => rows.map((row) => row[key]);
  return {
    // One name per text: a name is prepared once per connection.
    name: `worksched_create_work_requests${pendingWorkChannel === null ? '_quiet' : ''}${guarded ? '_guarded' : ''}`,
    text: `with ${INPUT}${guarded ? GUARD : ''}inserted as (
       insert into work_request (task_name, subject, context, status, priority, priority_adjustment, task_data, requirements,
         learned_requirements, need_memory, need_disk, need_cpu, need_gpu, need_tags, attempt, max_attempts, time_limit_s,
         interrupt_allowed, user_metadata, unschedulable_reason, schedule, created_at)
       select r.task_name, r.subject, r.context, 'pending', r.priority, 0, r.task_data::json, r.requirements::jsonb,
         r.learned::jsonb, r.need_memory, r.need_disk, r.need_cpu, r.need_gpu,
         case when r.need_tags = '[]' then '{}' else array(select json_array_elements_text(r.need_tags::json)) end, 1, r.max_attempts, r.time_limit_s,
         r.interrupt_allowed, r.user_metadata::jsonb, r.unschedulable_reason, r.schedule, now()
       from input r
       ${guarded ? 'where (select ok from guard)' : ''}
       order by r.position
       returning id, created_at
     )${pendingWorkChannel === null ? '' : `,
     notified as materialized (select pg_notify($${channelParam}, (select count(*) from inserted)::text)${guarded ? ' where exists (select 1 from inserted)' : ''})`}
     select (select json_agg(id order by id) from inserted) as ids, (select min(created_at) from inserted) as created_at${
       pendingWorkChannel === null ? '' : ', (select count(*) from notified) as notified'}`,
    values: [
      column('taskName'), column('subject'), column('context'), column('taskData'), column('requirements'), column('learnedRequirements'),
      column('needMemory'), column('needDisk'), column('needCpu'), column('needGpu'), column('needTags'), column('unschedulableReason'),
      column('priority'), column('maxAttempts'), column('timeLimitS'), column('interruptAllowed'), column('userMetadata'),
      column('schedule'),
      ...(guarded ? [guardHistoryOf] : []),
      ...(pendingWorkChannel === null ? [] : [pendingWorkChannel]),
    ],
  };
}
