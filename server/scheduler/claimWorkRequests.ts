import type { Pool } from 'pg';
import type { ClaimedWorkRequest } from '../../protocol/workerApi';
import type { ResourceRequirements } from '../../protocol/taskSpec';
import type { TaskData } from '../../entities';
import { claimStatement } from '../sql/claim';

interface ClaimedRow {
  id: string;
  task_name: string;
  subject: string | null;
  context: string | null;
  attempt: number;
  task_data: TaskData;
  time_limit_s: number | null;
  interrupt_allowed: boolean;
  requirements: ResourceRequirements;
  effective_priority: number;
  created_at: Date;
  log_seq_start: string;
}

/**
 * Hands up to `max` pending requests that fit the worker to it, in one transaction sent as one round trip.
 *
 * Why it is shaped like this:
 * - Statement 1 locks the worker row (and records that it is alive). Two claims by the same worker (several
 *   slots polling at once) are serialised here, so the picking statement — which starts after the lock is
 *   granted and so sees a fresh snapshot — counts the worker's running requests correctly and never hands out
 *   more than `concurrency`. Its resources are read from that same locked row.
 * - The picking statement locks rows with `FOR UPDATE SKIP LOCKED`: concurrent workers never wait on each
 *   other and never get the same row (graphile-worker's getJobs and pg-boss's fetch do the same). The WHERE
 *   clause compares the request's effective requirements with the worker's reported capacity, so a request is
 *   only ever locked by a worker that can run it; the ORDER BY matches the partial index
 *   `work_request_claim_idx` (effective priority, then age, pending rows only), so the cost stays flat as the
 *   pending table grows.
 * - `enable_sort` is off for this transaction only: the one sort-free plan walks that index, which stays
 *   right even when the table's statistics are stale (just after a burst of submissions the planner would
 *   think "1 pending row" and read and sort all of them instead).
 * - The statements go as one simple-protocol string on a plain pg connection: one round trip instead of four
 *   through the ORM. The only values in it are numbers (coerced with Number()); the worker's resources and
 *   tags are read from its row in SQL.
 * Memory is compared with the worker's total memory (its capacity; what is free right now includes our own
 * running tasks), disk with its available disk space (disk is consumed, not returned).
 */
export async function claimWorkRequests(pool: Pool, workerId: number, max: number): Promise<ClaimedWorkRequest[]> {
  const client = await pool.connect();
  let results: Array<{ rows: ClaimedRow[] }>;
  try {
    const worker = Number(workerId);
    results = (await client.query(
      [
        'begin',
        `update worker set last_seen_at = now(), online = true where id = ${worker} and enabled`,
        `select set_config('enable_sort', 'off', true)`,
        claimStatement(worker, Number(max)).text,
        'commit',
      ].join(';\n'),
    )) as unknown as Array<{ rows: ClaimedRow[] }>;
  } catch (error) {
    // The rest of the string was skipped after the error: end the transaction before the connection is reused.
    await client.query('rollback').catch(() => undefined);
    client.release();
    throw error;
  }
  client.release();
  const rows = results[3].rows;
  rows.sort(
    (a, b) =>
      b.effective_priority - a.effective_priority ||
      new Date(a.created_at).getTime() - new Date(b.created_at).getTime() ||
      Number(a.id) - Number(b.id),
  );
  return rows.map(toClaimedWorkRequest);
}

function toClaimedWorkRequest(row: ClaimedRow): ClaimedWorkRequest {
  return {
    id: Number(row.id),
    task_name: row.task_name,
    subject: row.subject,
    context: row.context,
    attempt: row.attempt,
    execution: row.task_data.execution,
    time_limit_s: row.time_limit_s,
    interrupt_allowed: row.interrupt_allowed,
    requirements: row.requirements,
    log_seq_start: Number(row.log_seq_start),
  };
}
