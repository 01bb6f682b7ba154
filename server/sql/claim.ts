import { budgetLimit, expectedDurationMsSql, runSpendSql } from './runLedger';
import type { SqlStatement } from './statement';
import { claimedInputsSql } from './workflowTasks';

/** Advisory-lock class of a budgeted run's claims (a key space apart from the worker's claim lock). */
export const RUN_BUDGET_LOCK_CLASS = 0x7772;

/**
 * May this worker take request `r` of a run? Not when max cost per result stopped it for the run
 * (workflow_worker.stop_reason), nor when the run's spend over its budget window (the ledger's buckets and its
 * running attempts: never its whole history) plus the expected cost of `r` on this worker (its key's mean
 * duration × the worker's cost_per_hour) would pass the budget. Only rows of runs get here.
 * `offset 0` keeps the spend a subquery of its own, computed once: pulled up, its three uses were three sums of
 * the ledger's window and three scans of the run's running attempts per row looked at.
 */
function runAllowsSql(r: string, workerId: string, costPerHour: string): string {
  return `(not exists (select 1 from workflow_worker ww where ww.workflow_id = ${r}.workflow_id and ww.worker_id = ${workerId} and ww.stop_reason is not null)
             and coalesce((select case when f.budget is null then true else (
                 select sp.spend < ${budgetLimit('f')} and (sp.spend <= 0
                   or sp.spend + ${expectedDurationMsSql(r)} * coalesce(${costPerHour}, 0) / 3600000.0 <= ${budgetLimit('f')})
                 from (select ${runSpendSql('f')} as spend offset 0) sp) end
               from workflow f where f.workflow_id = ${r}.workflow_id), true))`;
}

/**
 * The picking half of the claim: pending rows this worker can run, in claim order, at most its free slots,
 * locked and skipping rows other claimers hold. Exported so that the benchmark EXPLAINs exactly this text.
 */
export function claimPickingQuery(workerId: number, max: number): SqlStatement {
  return { text: pickingSql(String(Number(workerId)), String(Number(max))), values: [] };
}

/** The picking SQL with the worker id and max as SQL expressions: numbers, or `$1`/`$2` in the prepared claim. */
function pickingSql(workerId: string, max: string): string {
  const me = `(select %s from worker where id = ${workerId})`;
  const column = (name: string) => me.replace('%s', name);
  // `not budget_held`: the claim index's own condition, so a budget-paused run's rows are not even walked.
  return `select r.id, r.workflow_id from work_request r
         where r.status = 'pending' and not r.budget_held
           and exists (select 1 from worker where id = ${workerId} and enabled)
           and (r.not_before is null or r.not_before <= now())
           and (r.need_memory is null or r.need_memory <= ${column('total_memory')})
           and (r.need_disk is null or r.need_disk <= ${column('available_disk_space')})
           and (r.need_cpu is null or r.need_cpu <= ${column('cpu_count')})
           and (r.need_gpu is null or r.need_gpu <= ${column('gpu_count')})
           and (r.need_tags = '{}' or r.need_tags <@ ${column('tags')})
           -- A slot freed by preemption is kept for the request that preempted (server/scheduler/preemptForWaiting.ts).
           and (r.reserved_worker_id = ${workerId} or not exists (select 1 from work_request p
             where p.status = 'pending' and p.reserved_worker_id = ${workerId} and p.reserved_until > now()))
           and (r.workflow_id is null or ${runAllowsSql('r', workerId, column('cost_per_hour'))})
         order by (r.priority + r.priority_adjustment) desc, r.created_at, r.id
         limit greatest(0, least(${max}, ${column('concurrency')}
           - (select count(*) from work_request x where x.status = 'running' and x.worker_id = ${workerId})))
         for update of r skip locked`;
}

/** The claim's statement: picks (claimPickingQuery), marks the picked rows running on this worker and returns them. */
export function claimStatement(workerId: number, max: number): SqlStatement {
  return { text: claimSql(String(Number(workerId)), String(Number(max))), values: [] };
}

/**
 * The claim's statement for PREPARE: `$1` the worker id (bigint), `$2` the most to claim (int). Prepared once
 * per connection, the server plans it once instead of on every claim (planning cost more than running it).
 */
export const PREPARED_CLAIM = {
  name: 'worksched_claim',
  prepare: `prepare worksched_claim(bigint, int) as ${claimSql('$1', '$2')}`,
} as const;

/**
 * Records that the worker is alive only when that changes something: it is marked offline, or it was last seen
 * more than a second ago (lost-worker detection works in tens of seconds). Most claims then write nothing to
 * the worker row. Prepared like the claim; `$1` the worker id.
 */
export const PREPARED_TOUCH_WORKER = {
  name: 'worksched_touch_worker',
  prepare: `prepare worksched_touch_worker(bigint) as
    update worker set last_seen_at = now(), online = true
    where id = $1 and enabled and (not online or last_seen_at is null or last_seen_at < now() - interval '1 second')`,
} as const;

function claimSql(workerId: string, max: string): string {
  // `id = any(array(…))`, not a join with `picked`: the planner cannot read the LIMIT expression, guesses a
  // large row count and would hash-join over a scan of the whole table; this way it is a primary-key lookup.
  // The update waits for `budget_locks` (a one-time filter): the statement after the claim starts once they are held.
  return `with picked as (${pickingSql(workerId, max)}),
     budget_locks as (${budgetLocksSql('picked')})
       update work_request w
         set status = 'running', worker_id = ${workerId}, started_at = date_trunc('milliseconds', now()), state_reason = null,
           expected_cost = case when w.workflow_id is not null
             then ${expectedDurationMsSql('w')} * coalesce((select cost_per_hour from worker where id = ${workerId}), 0) / 3600000.0 end
         where w.id = any(array(select id from picked)) and (select locked from budget_locks) >= 0
       returning w.id, w.task_name, w.subject, w.context, w.attempt, w.task_data, w.time_limit_s,
         w.interrupt_allowed, w.requirements, w.priority + w.priority_adjustment as effective_priority, w.created_at, w.workflow_id,
         (select coalesce(max(l.seq) + 1, 0) from log_chunk l where l.work_request_id = w.id) as log_seq_start,
         case when w.workflow_id is not null then ${claimedInputsSql('w')} end as inputs,
         (select f.start_time is null from workflow f where f.workflow_id = w.workflow_id) as run_unstarted`;
}

/**
 * Inside the claim: a lock per budgeted run among the `picked` rows, in key order (no deadlock between two
 * claims). Two claims of one run's tasks pass here one after the other, and the statement after the claim
 * starts after the lock is granted: it sees every reservation committed before, none is missed. Rows outside
 * runs, or of runs without a budget, take no lock (a primary-key lookup of their runs, if any).
 */
function budgetLocksSql(picked: string): string {
  return `select count(pg_advisory_xact_lock(${RUN_BUDGET_LOCK_CLASS}, runs.key)) as locked
       from (select distinct hashtext(f.workflow_id) as key from workflow f
             where f.workflow_id = any(array(select workflow_id from ${picked} where workflow_id is not null)) and f.budget is not null
             order by 1) runs`;
}

/** This transaction's claimed rows of worker `$1` (the claim just wrote them: their xmin is our transaction). */
const CLAIMED_HERE = `r.status = 'running' and r.worker_id = $1 and r.xmin = xid(pg_current_xact_id_if_assigned())`;

/**
 * After the claim, in its transaction and under its run locks: of the rows just claimed for each budgeted run, in
 * claim order, those whose reservation would take the run's spend (the ledger, and every other running attempt
 * at its reservation or more) past the budget go back to pending, as if not claimed (by the same rule as the
 * picking: an attempt runs when nothing is spent). Answers the rows given back and the runs now full, whose
 * pause (budget_held) is to be set at once.
 */
export const PREPARED_KEEP_WITHIN_BUDGET = {
  name: 'worksched_keep_within_budget',
  prepare: `prepare worksched_keep_within_budget(bigint) as
    with mine as (
      select r.id, r.workflow_id, coalesce(r.expected_cost, 0) as expected, r.priority + r.priority_adjustment as priority, r.created_at
      from work_request r where ${CLAIMED_HERE} and r.workflow_id is not null
    ), runs as (
      select f.workflow_id, ${budgetLimit('f')} as budget_limit,
        ${runSpendSql('f')} - (select sum(m.expected) from mine m where m.workflow_id = f.workflow_id) as others
      from workflow f where f.budget is not null and f.workflow_id in (select workflow_id from mine)
    ), ranked as (
      select m.id, m.workflow_id, m.expected, runs.budget_limit, runs.others
          + sum(m.expected) over (partition by m.workflow_id order by m.priority desc, m.created_at, m.id rows unbounded preceding) - m.expected as before,
        m.priority, m.created_at
      from mine m join runs on runs.workflow_id = m.workflow_id
    ), judged as (
      select id, workflow_id, budget_limit, before + expected as after,
        bool_and(before < budget_limit and (before <= 0 or before + expected <= budget_limit))
          over (partition by workflow_id order by priority desc, created_at, id rows unbounded preceding) as fits
      from ranked
    ), given_back as (
      update work_request w set status = 'pending', worker_id = null, started_at = null, expected_cost = null
      from judged j where j.id = w.id and not j.fits
      returning w.id
    )
    select array(select id from given_back) as given_back,
      array(select distinct workflow_id from judged where not fits or after >= budget_limit) as full_runs`,
} as const;
