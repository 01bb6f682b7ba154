import type { Pool } from 'pg';
import { isTransactionConflict, releaseAfterFailedTransaction } from '../databaseErrors';
import { completeBatchWithoutDecisionStatement, type QuickReport } from '../sql/completeBatchWithoutDecision';
import { namedStatement } from '../sql/statement';

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
