import type { Pool } from 'pg';
import type { ClaimedWorkRequest } from '../../protocol/workerApi';
import type { ResourceRequirements } from '../../protocol/taskSpec';
import type { TaskData } from '../../entities';

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
        claimStatement(worker, Number(max)),
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

/**
 * The picking half of the claim: pending rows this worker can run, in claim order, at most its free slots,
 * locked and skipping rows other claimers hold. Exported so that the benchmark EXPLAINs exactly this text.
 */
export function claimPickingQuery(workerId: number, max: number): string {
  const me = `(select %s from worker where id = ${Number(workerId)})`;
  const column = (name: string) => me.replace('%s', name);
  return `select r.id from work_request r
         where r.status = 'pending'
           and exists (select 1 from worker where id = ${Number(workerId)} and enabled)
           and (r.not_before is null or r.not_before <= now())
           and (r.need_memory is null or r.need_memory <= ${column('total_memory')})
           and (r.need_disk is null or r.need_disk <= ${column('available_disk_space')})
           and (r.need_cpu is null or r.need_cpu <= ${column('cpu_count')})
           and (r.need_gpu is null or r.need_gpu <= ${column('gpu_count')})
           and (r.need_tags = '{}' or r.need_tags <@ ${column('tags')})
         order by (r.priority + r.priority_adjustment) desc, r.created_at, r.id
         limit greatest(0, least(${Number(max)}, ${column('concurrency')}
           - (select count(*) from work_request x where x.status = 'running' and x.worker_id = ${Number(workerId)})))
         for update of r skip locked`;
}

function claimStatement(workerId: number, max: number): string {
  // `id = any(array(…))`, not a join with `picked`: the planner cannot read the LIMIT expression, guesses a
  // large row count and would hash-join over a scan of the whole table; this way it is a primary-key lookup.
  return `with picked as (${claimPickingQuery(workerId, max)})
       update work_request w
         set status = 'running', worker_id = ${workerId}, started_at = date_trunc('milliseconds', now()), state_reason = null
         where w.id = any(array(select id from picked))
       returning w.id, w.task_name, w.subject, w.context, w.attempt, w.task_data, w.time_limit_s,
         w.interrupt_allowed, w.requirements, w.priority + w.priority_adjustment as effective_priority, w.created_at,
         (select coalesce(max(l.seq) + 1, 0) from log_chunk l where l.work_request_id = w.id) as log_seq_start`;
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
