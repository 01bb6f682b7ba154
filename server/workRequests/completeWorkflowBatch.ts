import type { Pool, PoolClient, QueryResult } from 'pg';
import type { ResourceRequirements } from '../../protocol/taskSpec';
import { isTransactionConflict, releaseAfterFailedTransaction } from '../databaseErrors';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import type { WorkerCapacity } from '../scheduler/unschedulableReason';
import { completeBatchCtes, COMPLETED_COLUMNS, type QuickReport } from '../sql/completeBatchWithoutDecision';
import { bookRunCostsCtes } from '../sql/runLedger';
import { namedStatement } from '../sql/statement';
import { executePrepared, prepareOnConnection, type SqlPrepared } from '../sql/sqlPrepared';
import { dependantsOfRequestsStatement, releasePreparedStatement, type BlockedTaskRow, type DependantToLearnRow, type PreparedReleaseValues } from '../sql/workflowTasks';
import { WORKFLOW_GATE_CLASS } from '../workflows/lockWorkflows';
import { prepareReleasedValues, requirementsLearner } from '../workflows/releaseTasks';
import { classifyBlocked } from '../workflows/settleWorkflow';
import type { CompletedRow } from './completeRunningBatch';
import { deferPendingWork } from './notifyChanges';

/**
 * Before any lock, one statement: dependantsOfRequestsStatement's rows (the batch's workflows and their blocked
 * dependants, read unlocked) and the enabled workers' capacities, as JSON.
 */
function lookupStatement(ids: number[]) {
  const lookup = dependantsOfRequestsStatement(ids);
  return namedStatement('worksched_workflow_batch_lookup', {
    text: `select coalesce((select json_agg(x) from (${lookup.text}) x), '[]'::json) as found,
       coalesce((select json_agg(json_build_object('totalMemory', total_memory, 'availableDiskSpace', available_disk_space,
         'cpuCount', cpu_count, 'gpuCount', gpu_count, 'tags', tags)) from worker where enabled), '[]'::json) as workers`,
    values: lookup.values,
  });
}

/**
 * The lock order of lockWorkflows (shared): the workflows' fair gate, their rows FOR KEY SHARE in key order (init
 * plans, run before any row lock), then the batch's requests in id order (lockWorkRequestsInOrder). Answers each
 * request's status and worker, and the workflows as locked.
 */
const LOCK_STATEMENT = {
  name: 'worksched_workflow_batch_lock',
  text: `with gate as (
       select pg_advisory_xact_lock_shared(${WORKFLOW_GATE_CLASS}, hashtext(id)) from (select distinct unnest($1::text[]) as id order by 1) ids
     ), locked_workflows as (
       select workflow_id, status, max_running, budget, max_cost_per_result from workflow
       where workflow_id = any($1::text[]) and (select count(*) from gate) >= 0
       order by workflow_id for key share
     )
     select r.id, r.status, r.worker_id, (select json_agg(w) from locked_workflows w) as workflows
     from work_request r where r.id = any($2::bigint[]) and (select count(*) from locked_workflows) >= 0
     order by r.id for update`,
};

/**
 * Under those locks, one statement: the batch completed as completeBatchWithoutDecisionStatement does, booked in
 * the run ledgers as bookRunCosts does (from the completed rows as they now are), and the blocked current attempts
 * that depend on the completed tasks locked in id order (as lockBlockedDependantsStatement does; their readiness
 * is read by the next statement, which sees every completion committed before these locks were granted).
 */
function completeStatement(workerId: number, reports: QuickReport[]) {
  const ctes = completeBatchCtes(workerId, reports);
  // The dependants' lock first in the text: what pg_stat_activity shows of a completion waiting for it.
  return namedStatement('worksched_workflow_batch_complete', {
    text: `with dependants as (
       select r.id from work_request r
       where r.id = any(array(
         select c.id from work_request f
         cross join lateral (select e.task_id from workflow_dependency e where e.workflow_id = f.workflow_id and e.depends_on = f.task_id offset 0) d
         cross join lateral (select c.id from work_request c where c.workflow_id = f.workflow_id and c.task_id = d.task_id
           and c.task_id is not null and c.superseded_by_id is null limit 1) c
         where f.id = any(?::bigint[]) and f.workflow_id is not null
       )) and r.status = 'blocked'
       order by r.id for update
     ), ${ctes.text}, ${bookRunCostsCtes('done', 'true')}
     select ${COMPLETED_COLUMNS}, (select count(*) from booked) as booked,
       (select coalesce(json_agg(id order by id), '[]'::json) from dependants) as dependants
     from done`,
    values: [reports.map((report) => report.id), ...ctes.values],
  });
}

/**
 * The common batch of a workflow drain — successes of workflow tasks running on this worker, in RUNNING workflows
 * without max_running, budget or cost limit, each of whose workflows stays active (a dependant of the batch is
 * released or still waits) — in one transaction on a plain pg connection with named statements, no ORM:
 * completeWorkRequests' shared-lock path (lockWorkflows shared, settleCompletedTasks) in three round trips under
 * the locks (begin and the locks; the completion and the release; the end), SQL-prepared statements sent as
 * strings. Answers null, having written nothing, for anything else (a report it does not take, a workflow not fit
 * for it, a dependant to skip or that takes `from` parameters, a workflow whose status may change, a deadlock):
 * the caller takes the full path, which answers each case. Wake-ups are deferred (withNotificationsAfterCommit).
 */
export async function completeWorkflowBatch(pool: Pool, workerId: number, reports: QuickReport[], policy: SchedulingPolicy): Promise<CompletedRow[] | null> {
  if (reports.some((report) => report.result !== 'success')) return null;
  const ids = reports.map((report) => report.id);
  const client = await pool.connect();
  let inTransaction = false;
  try {
    // Unlocked reads first, outside the transaction (as the full path does them before its locks).
    const { rows: [lookup] } = await client.query<{ found: DependantToLearnRow[]; workers: WorkerCapacity[] }>(lookupStatement(ids));
    const found = lookup.found;
    const workflowOf = new Map<number, string>();
    const dependantWorkflow = new Map<number, string>();
    for (const row of found) {
      workflowOf.set(Number(row.request_id), row.workflow_id);
      if (row.dependant_id !== null) dependantWorkflow.set(Number(row.dependant_id), row.workflow_id);
    }
    const withDependants = new Set([...dependantWorkflow.values()]);
    const workflowIds = [...new Set(workflowOf.values())];
    // Every report a task of a workflow fit for the shared lock that has a blocked dependant (else its status may change).
    if (workflowOf.size !== ids.length || !found.every((row) => row.concurrent) || !workflowIds.every((id) => withDependants.has(id))) {
      client.release();
      return null;
    }
    const dependants = found.filter((row): row is DependantToLearnRow & { task_name: string; requirements: ResourceRequirements; dependant_id: string } => row.dependant_id !== null && row.task_name !== null);
    const learn = requirementsLearner(async (text, values, level) => {
      const result = await client.query<Record<string, unknown>>(namedStatement(`worksched_success_profile_${level ?? 'x'}`, { text, values }));
      return result.rows;
    }, policy);
    const prepared = await prepareReleasedValues(
      dependants.map((row) => ({ ...row, id: Number(row.dependant_id), use_history: row.use_history !== false, parameters: row.parameters ?? {} })),
      { workers: lookup.workers, learn },
    );
    // A dependant with `from` parameters is filled in at its release (releaseTasks): the full path's.
    if (dependants.some((row) => !prepared.has(Number(row.dependant_id)))) {
      client.release();
      return null;
    }
    await prepareOnConnection(client, workflowBatchStatements());
    const escape = (text: string) => client.escapeLiteral(text);
    const execute = (statement: { name: string }, values: unknown[]) => executePrepared({ name: sqlName(statement) }, values, escape);
    inTransaction = true;
    // Generic plans: left to choose, PostgreSQL plans the array lookups afresh on every call. One round trip.
    const opened = (await client.query([
      'begin',
      'set local plan_cache_mode = force_generic_plan',
      execute(LOCK_STATEMENT, [workflowIds, ids]),
    ].join(';\n'))) as unknown as [QueryResult, QueryResult, QueryResult<{ status: string; worker_id: string | null; workflows: Array<Record<string, unknown>> | null }>];
    const locked = opened[2];
    const workflows = locked.rows[0]?.workflows ?? [];
    const fit = workflows.length === workflowIds.length
      && workflows.every((workflow) => workflow.status === 'RUNNING' && workflow.max_running === null && workflow.budget === null && workflow.max_cost_per_result === null);
    const allRunningHere = locked.rows.length === ids.length && locked.rows.every((row) => row.status === 'running' && Number(row.worker_id) === workerId);
    if (!fit || !allRunningHere) return await rollback(client);
    // The completion and the release in one round trip, each statement with its own snapshot (the release's is
    // taken once the completion's locks were granted, as it must be). The release is given every dependant the
    // lookup found: those the completion did not lock are no longer blocked, and it passes over them.
    const candidates = [...prepared.keys()];
    const complete = completeStatement(workerId, reports);
    const release = releaseStatement(candidates, candidates.flatMap((id) => prepared.get(id) ?? []));
    const [done, { rows: [released] }] = (await client.query(`${execute(complete, complete.values)};\n${execute(release, release.values)}`)) as unknown as [
      QueryResult<CompletedRow & { dependants: number[] }>,
      QueryResult<{ released: number; blocked: BlockedTaskRow[] }>,
    ];
    if (done.rows.length !== ids.length) return await rollback(client);
    const lockedDependants = (done.rows[0]?.dependants ?? []).map(Number);
    // A dependant locked that the lookup did not see (made blocked since) was not given to the release: the full path's.
    if (!lockedDependants.every((id) => prepared.has(id))) return await rollback(client);
    // Each workflow must keep a locked dependant (released or still waiting) so that its status cannot change.
    const lockedOf = new Set(lockedDependants.map((id) => dependantWorkflow.get(id)));
    if (lockedOf.has(undefined) || !workflowIds.every((id) => lockedOf.has(id))) return await rollback(client);
    const { skips, ready } = classifyBlocked(released.blocked);
    // Dependants to skip, or ready ones it did not release: settleCompletedTasks' later passes, the full path's.
    if (skips.length > 0 || ready.length > 0) return await rollback(client);
    await client.query('commit');
    inTransaction = false;
    client.release();
    deferPendingWork(released.released);
    return done.rows.map((row) => ({
      id: row.id, workflow_id: row.workflow_id, task_id: row.task_id, task_name: row.task_name,
      created_at: row.created_at, started_at: row.started_at, completed_at: row.completed_at,
    }));
  } catch (error) {
    if (inTransaction) await releaseAfterFailedTransaction(client, error);
    else client.release(error instanceof Error ? error : undefined);
    if (isTransactionConflict(error)) return null;
    throw error;
  }
}

/** The release, as releasePreparedStatement makes it for these dependants, under its name. */
function releaseStatement(ids: number[], values: PreparedReleaseValues[]) {
  return namedStatement('worksched_workflow_batch_release', releasePreparedStatement(ids, values, null));
}

/**
 * This path's three statements, SQL-prepared (see SqlPrepared) under names of their own, apart from the
 * protocol-level names node-pg gives statements: their texts do not depend on their values.
 */
let preparedStatements: SqlPrepared[] | undefined;

function workflowBatchStatements(): SqlPrepared[] {
  preparedStatements ??= [LOCK_STATEMENT, completeStatement(0, []), releaseStatement([], [])].map((statement) => ({
    name: sqlName(statement),
    prepare: `prepare ${sqlName(statement)} as ${statement.text}`,
  }));
  return preparedStatements;
}

const sqlName = (statement: { name: string }) => `${statement.name}_sql`;

async function rollback(client: PoolClient): Promise<null> {
  await client.query('rollback');
  client.release();
  return null;
}
