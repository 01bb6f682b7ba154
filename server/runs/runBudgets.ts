import type { EntityManager } from '@mikro-orm/postgresql';
import { formatCost } from '../../common/formatCost';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { bucketS, budgetLimit, budgetWindowS, expectedDurationMsSql, runSpendSql } from '../sql/runLedger';
import { notifyPendingWork } from '../workRequests/notifyChanges';
import { cancelWorkflow } from '../workflows/cancelWorkflow';
import { transactional } from '../transactional';

/** Every pending request of a paused run carries the pause's reason, which starts like this. */
const BUDGET_REASON_PREFIX = 'budget ';

interface RunBudgetRow {
  workflow_id: string;
  budget: string;
  on_budget: string;
  budget_reason: string | null;
  limit: number;
  window_s: number;
  bucket_s: number;
  spend: number;
  expected_cost: number | null;
  pending: string;
}

/**
 * What the claim decides per request, for the run's next pending request and the cheapest enabled worker:
 * over when the spend reached the limit, or when the next attempt's expected cost would take it past (an
 * attempt whose expected cost alone is over the limit still runs when nothing has been spent).
 */
export function overBudget(spend: number, expectedCost: number, limit: number): boolean {
  return spend >= limit || (spend > 0 && spend + expectedCost > limit);
}

/**
 * When enough of the ledger's spend has left the window for the next attempt to fit: the end of the window
 * of the bucket that brings it under. Null when completed spend alone cannot bring it under (running attempts).
 */
export function budgetFreesAt(
  buckets: Array<{ start: Date; cost: number }>,
  run: { spend: number; expectedCost: number; limit: number; windowS: number; bucketS: number },
): Date | null {
  let left = run.spend;
  for (const bucket of buckets) {
    left -= bucket.cost;
    if (!overBudget(left, run.expectedCost, run.limit)) return new Date(bucket.start.getTime() + (run.bucketS + run.windowS) * 1000);
  }
  return null;
}

/**
 * After completions (and at each housekeeping tick, for running attempts that accrue and for windows that
 * moved on): each budgeted active run of `workflowIds` is paused — its pending requests say why and until when,
 * and `budget_frees_at` is what housekeeping sets its wake-up timer by — or resumed with a wake-up of the
 * workers, or, with `on_budget: "stop"`, cancelled once its actual spend reached the limit. The claim itself
 * enforces the budget per request; this keeps the reasons and the wake-ups.
 */
export async function checkRunBudgets(em: EntityManager, workflowIds: string[], policy: SchedulingPolicy): Promise<void> {
  if (workflowIds.length === 0) return;
  const stops: Array<{ workflowId: string; by: string }> = [];
  for (const workflowId of workflowIds) {
    const stop = await transactional(em.fork(), (tem) => checkRunBudget(tem, workflowId));
    if (stop) stops.push({ workflowId, by: stop });
  }
  for (const stop of stops) await cancelWorkflow(em.fork(), stop.workflowId, stop.by, policy);
}

/** Claimers woken when a run resumes: at most this many (counting a paused run's pending rows costs nothing more). */
const WAKE_AT_MOST = 1000;

const windowName = (windowS: number) => (windowS === 60 ? 'minute' : 'hour');

/** One run, inside a transaction holding its lock; answers the cancel's "by" when it is to be stopped. */
async function checkRunBudget(em: EntityManager, workflowId: string): Promise<string | null> {
  // The run's pending rows through its (workflow, status) index: the planner would rather scan the table for
  // "any pending row", which finds one only after the run's whole history (older rows come first).
  await em.execute(`select set_config('enable_seqscan', 'off', true)`);
  const rows = await em.execute<RunBudgetRow[]>(
    `select f.workflow_id, f.budget, f.on_budget, f.budget_reason, ${budgetLimit('f')} as limit, ${budgetWindowS('f')} as window_s,
       ${bucketS('f')} as bucket_s, ${runSpendSql('f')} as spend,
       (select ${expectedDurationMsSql('p')} from work_request p where p.workflow_id = f.workflow_id and p.status = 'pending' limit 1)
         * (select coalesce(min(coalesce(cost_per_hour, 0)), 0) from worker where enabled) / 3600000.0 as expected_cost,
       (select count(*) from (select 1 from work_request p where p.workflow_id = f.workflow_id and p.status = 'pending' limit ${WAKE_AT_MOST}) p) as pending
     from workflow f
     where f.workflow_id = ? and f.budget is not null and f.status in ('PENDING', 'RUNNING')
     for update of f`,
    [workflowId],
  );
  const run = rows[0];
  if (!run) return null;
  const spend = Number(run.spend);
  const limit = Number(run.limit);
  const expectedCost = run.expected_cost === null ? 0 : Number(run.expected_cost);
  const window = windowName(run.window_s);
  if (run.on_budget === 'stop' && spend >= limit) {
    return `budget ${run.budget} (spent ${formatCost(spend)} in the last ${window})`;
  }
  if (Number(run.pending) > 0 && overBudget(spend, expectedCost, limit)) {
    const buckets = await em.execute<Array<{ bucket_start: Date; cost: number }>>(
      `select bucket_start, cost from workflow_spend where workflow_id = ? and bucket_start > now() - make_interval(secs => ? + ?) order by bucket_start`,
      [workflowId, run.window_s, run.bucket_s],
    );
    // Null: the ledger leaving the window is not enough, its running attempts (their reservations) hold it until
    // they end; each completion checks the run again, so no timer is needed (and the reason stays the same).
    const freesAt = budgetFreesAt(
      buckets.map((bucket) => ({ start: new Date(bucket.bucket_start), cost: Number(bucket.cost) })),
      { spend, expectedCost, limit, windowS: run.window_s, bucketS: run.bucket_s },
    );
    const reason = `${BUDGET_REASON_PREFIX}${run.budget}: spent ${formatCost(spend)} in the last ${window}`
      + `${expectedCost > 0 ? `, next task ~${formatCost(expectedCost)}` : ''}; frees up ${freesAt ? `at ${freesAt.toISOString()}` : 'as its running tasks end'}`;
    await em.execute(`update workflow set budget_reason = ?, budget_frees_at = ? where workflow_id = ?`, [reason, freesAt, workflowId]);
    // Held: out of the claim's index, so the claim does not walk a paused run's rows (set once per pause).
    await em.execute(
      `update work_request set state_reason = ?, budget_held = true
       where workflow_id = ? and status = 'pending' and (state_reason is distinct from ? or not budget_held)`,
      [reason, workflowId, reason],
    );
    return null;
  }
  if (run.budget_reason !== null) {
    await em.execute(`update workflow set budget_reason = null, budget_frees_at = null where workflow_id = ?`, [workflowId]);
    await em.execute(
      `update work_request set state_reason = case when state_reason like ? then null else state_reason end, budget_held = false
       where workflow_id = ? and status = 'pending' and (budget_held or state_reason like ?)`,
      [`${BUDGET_REASON_PREFIX}%`, workflowId, `${BUDGET_REASON_PREFIX}%`],
    );
    await notifyPendingWork(em, Number(run.pending));
  }
  return null;
}

/** Housekeeping: every budgeted active run checked; answers the earliest time a paused one frees up. */
export async function checkAllRunBudgets(em: EntityManager, policy: SchedulingPolicy): Promise<Date | null> {
  const runs = await em.execute<Array<{ workflow_id: string }>>(
    `select workflow_id from workflow where budget is not null and status in ('PENDING', 'RUNNING') order by workflow_id`,
  );
  await checkRunBudgets(em, runs.map((run) => run.workflow_id), policy);
  const next = await em.execute<Array<{ at: Date | null }>>(
    `select min(budget_frees_at) as at from workflow where budget_reason is not null and status in ('PENDING', 'RUNNING')`,
  );
  return next[0]?.at ? new Date(next[0].at) : null;
}
