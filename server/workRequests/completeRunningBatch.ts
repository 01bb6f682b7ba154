import type { Pool } from 'pg';
import { isTransactionConflict, releaseAfterFailedTransaction } from '../databaseErrors';
import { completeBatchCtes, completeBatchInput, COMPLETED_COLUMNS, completeBatchWithoutDecisionStatement, type QuickReport } from '../sql/completeBatchWithoutDecision';
import { namedStatement } from '../sql/statement';
import { executePrepared, type SqlPrepared } from '../sql/sqlPrepared';

/** A request the batch statement completed, with what the metrics need. */
export interface CompletedRow {
  id: string | number;
  workflow_id: string | null;
  task_id: string | null;
  task_name: string;
  created_at: Date | string;
  started_at: Date | string | null;
  completed_at: Date | string;
}

/** Locks the batch's requests that are not workflow tasks (a task's row never changes workflow), in id order. */
const LOCK_PLAIN_REQUESTS = {
  name: 'worksched_lock_plain_requests',
  text: `select id, status, worker_id from work_request where id = any($1::bigint[]) and workflow_id is null order by id for update`,
};

/**
 * The common batch — successes and skips, each of a plain request (no workflow task) running on this worker —
 * in one transaction on a plain pg connection, named statements, no ORM: the rows locked in id order, then the
 * set-based completion. Answers null, having written nothing, when the batch is anything else (a repeat, another
 * worker's, unknown, a workflow task) or met a deadlock: the caller takes the full path, which answers each case.
 * `reports` must not repeat an id. Wake-ups are the caller's (after the commit).
 */
export async function completeRunningBatch(pool: Pool, workerId: number, reports: QuickReport[]): Promise<CompletedRow[] | null> {
  const client = await pool.connect();
  try {
    // Generic plans: left to choose, PostgreSQL plans the array lookup afresh on every call (it costs more than running it).
    await client.query(`begin; set local plan_cache_mode = force_generic_plan`);
    const locked = await client.query<{ status: string; worker_id: string | null }>({ ...LOCK_PLAIN_REQUESTS, values: [reports.map((report) => report.id)] });
    const allRunningHere = locked.rows.length === reports.length && locked.rows.every((row) => row.status === 'running' && Number(row.worker_id) === workerId);
    const done = allRunningHere
      ? await client.query<CompletedRow>(namedStatement('worksched_complete_batch_without_decision', completeBatchWithoutDecisionStatement(workerId, reports)))
      : null;
    if (!done || done.rows.length !== reports.length) {
      await client.query('rollback');
      client.release();
      return null;
    }
    await client.query('commit');
    client.release();
    return done.rows;
  } catch (error) {
    await releaseAfterFailedTransaction(client, error);
    if (isTransactionConflict(error)) return null;
    throw error;
  }
}

/** Why the claim's transaction failed when its carried reports were not all plain requests running on the worker. */
const NOT_ALL_RUNNING_HERE = 'worksched: not every carried report is of a plain request running on this worker';

/**
 * completeRunningBatch's batch as a statement of the claim's own transaction (claimWorkRequests' `completeFirst`),
 * SQL-prepared once per connection: $1 the reports as completeBatchCtes makes them, $2 the worker, $3 how many.
 * All or nothing like completeRunningBatch: unless it completed every report, each of a request outside any
 * workflow, it fails (a cast of NOT_ALL_RUNNING_HERE, the way plain SQL raises), and so does the transaction.
 * The check's text depends on a count, or the planner would fold it (and raise) when preparing it.
 */
export const PREPARED_COMPLETE_RUNNING_BATCH: SqlPrepared = (() => {
  const ctes = completeBatchCtes(0, []);
  if (ctes.values.length !== 2) throw new Error('completeBatchCtes: expected two values (the reports and the worker)');
  const { text } = namedStatement('worksched_complete_running_batch', {
    text: `with ${ctes.text}, checked as (
       select count(*) filter (where workflow_id is null) as plain from done
     )
     select ${COMPLETED_COLUMNS}, (case when checked.plain = ? then null else '${NOT_ALL_RUNNING_HERE} (' || checked.plain || ')' end)::int as all_running_here
     from checked left join done on true`,
    values: [...ctes.values, 0],
  });
  return { name: 'worksched_complete_running_batch', prepare: `prepare worksched_complete_running_batch(jsonb, bigint, int) as ${text}` };
})();

/** The EXECUTE of PREPARED_COMPLETE_RUNNING_BATCH for `reports` (in id order: the rows are locked in that order), its JSON inlined as a literal. */
export function executeCompleteRunningBatch(workerId: number, reports: QuickReport[], escapeLiteral: (text: string) => string): string {
  const sorted = [...reports].sort((a, b) => a.id - b.id);
  return executePrepared(PREPARED_COMPLETE_RUNNING_BATCH, [completeBatchInput(sorted), Number(workerId), sorted.length], escapeLiteral);
}

/** Whether a claim's transaction failed on PREPARED_COMPLETE_RUNNING_BATCH's check (the caller takes the full path). */
export function isNotAllRunningHere(error: unknown): boolean {
  return error instanceof Error && (error as { code?: unknown }).code === '22P02' && error.message.includes(NOT_ALL_RUNNING_HERE);
}
