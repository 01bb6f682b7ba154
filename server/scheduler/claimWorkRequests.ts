import type { EntityManager } from '@mikro-orm/postgresql';
import type { ClaimedWorkRequest } from '../../protocol/workerApi';
import type { ResourceRequirements } from '../../protocol/taskSpec';
import type { TaskData } from '../../entities';

export interface ClaimingWorkerRow {
  id: string;
  concurrency: number;
  cpu_count: number;
  total_memory: string;
  available_disk_space: string;
  gpu_count: number;
  tags: string[];
}

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
  log_seq_start: number;
}

/**
 * Hands up to `max` pending requests that fit the worker to it, in one transaction.
 *
 * Why it is shaped like this:
 * - Statement 1 locks the worker row. Two claims by the same worker (several slots polling at once) are
 *   serialised here, so statement 2 — which starts after the lock is granted and so sees a fresh snapshot —
 *   counts the worker's running requests correctly and never hands out more than `concurrency`.
 * - Statement 2 picks rows with `FOR UPDATE SKIP LOCKED`: concurrent workers never wait on each other and
 *   never get the same row (graphile-worker's getJobs and pg-boss's fetch do the same). The WHERE clause
 *   compares the request's effective requirements with the worker's reported capacity, so a request is only
 *   ever locked by a worker that can run it; the ORDER BY matches the partial index `work_request_claim_idx`
 *   (effective priority, then age, pending rows only), so the cost stays flat as the pending table grows. The
 *   filters are written `x is null or x <= $n`, not `coalesce(x, 0) <= $n`: the planner has statistics for the
 *   former and then walks the index; for the latter it guesses "1 row" and sorts every pending row instead.
 * Memory is compared with the worker's total memory (its capacity; what is free right now includes our own
 * running tasks), disk with its available disk space (disk is consumed, not returned).
 */
export async function claimWorkRequests(em: EntityManager, workerId: number, max: number): Promise<ClaimedWorkRequest[]> {
  return em.transactional(async (tem) => {
    // enable_sort off for this transaction only: the one sort-free plan for statement 2 walks the claim index,
    // which stays right even when the table's statistics are stale (e.g. just after a burst of submissions,
    // when the planner would think "1 pending row" and read and sort all of them instead).
    const workers = await tem.execute<ClaimingWorkerRow[]>(
      `with me as (
         update worker set last_seen_at = now(), online = true
         where id = ? and enabled
         returning id, concurrency, cpu_count, total_memory, available_disk_space, gpu_count, tags
       )
       select me.*, set_config('enable_sort', 'off', true) as planner from me`,
      [workerId],
    );
    const worker = workers[0];
    if (!worker) return [];
    const picking = claimPickingQuery(worker, workerId, max);
    const rows = await tem.execute<ClaimedRow[]>(
      `with picked as (${picking.sql})
       update work_request w
         set status = 'running', worker_id = ?, started_at = date_trunc('milliseconds', now()), state_reason = null
         from picked where w.id = picked.id
       returning w.id, w.task_name, w.subject, w.context, w.attempt, w.task_data, w.time_limit_s,
         w.interrupt_allowed, w.requirements, w.priority + w.priority_adjustment as effective_priority, w.created_at,
         (select coalesce(max(l.seq) + 1, 0) from log_chunk l where l.work_request_id = w.id) as log_seq_start`,
      [...picking.params, workerId],
    );
    rows.sort(
      (a, b) =>
        b.effective_priority - a.effective_priority ||
        new Date(a.created_at).getTime() - new Date(b.created_at).getTime() ||
        Number(a.id) - Number(b.id),
    );
    return rows.map(toClaimedWorkRequest);
  });
}

/**
 * The picking half of the claim: pending rows this worker can run, in claim order, at most its free slots,
 * locked and skipping rows other claimers hold. Exported so that the benchmark EXPLAINs exactly this text.
 */
export function claimPickingQuery(
  worker: Pick<ClaimingWorkerRow, 'total_memory' | 'available_disk_space' | 'cpu_count' | 'gpu_count' | 'tags' | 'concurrency'>,
  workerId: number,
  max: number,
): { sql: string; params: unknown[] } {
  return {
    sql: `select r.id from work_request r
         where r.status = 'pending'
           and (r.not_before is null or r.not_before <= now())
           and (r.need_memory is null or r.need_memory <= ?)
           and (r.need_disk is null or r.need_disk <= ?)
           and (r.need_cpu is null or r.need_cpu <= ?)
           and (r.need_gpu is null or r.need_gpu <= ?)
           and (r.need_tags = '{}' or r.need_tags <@ array[?]::text[])
         order by (r.priority + r.priority_adjustment) desc, r.created_at, r.id
         limit greatest(0, least(?::int, ?::int - (select count(*) from work_request x where x.status = 'running' and x.worker_id = ?)))
         for update of r skip locked`,
    params: [worker.total_memory, worker.available_disk_space, worker.cpu_count, worker.gpu_count, worker.tags, max, worker.concurrency, workerId],
  };
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
