import type { EntityManager } from '@mikro-orm/postgresql';
import { RUN_SPEND_WINDOWS, type RunSpend, type RunSpendWindow } from '../../protocol/runs';
import { bucketS, budgetLimit, budgetWindowS } from '../sql/runLedger';
import { getWorkflowOrFail } from '../workflows/workflowRow';

interface SpendStepRow {
  start: Date | string;
  limit: number | null;
  window_s: number;
  step_s: number;
  cost: number;
  window_spend: number;
}

/**
 * GET /workflows/:id/spend: the run's spend over the last `window`, in steps aligned to multiples of the step
 * since the epoch (the last one holds now), read from its ledger (workflow_spend: what its completed attempts
 * cost, booked in buckets of 1/60 of its budget's window), never from its requests. Per step: what was booked in
 * it, and — what the budget compares with its limit — the spend over the budget's trailing window at the step's
 * end, counted as the budget check counts it (buckets that started after end − window − bucket). Each figure is
 * one range of the ledger's primary key; running attempts count once they complete.
 */
export async function runSpendOverTime(em: EntityManager, workflowId: string, window: RunSpendWindow): Promise<RunSpend> {
  const workflow = await getWorkflowOrFail(em, workflowId);
  const { spanS, stepS } = RUN_SPEND_WINDOWS[window];
  const rows = await em.execute<SpendStepRow[]>(
    `with terms as (
       select f.workflow_id, ${budgetLimit('f')} as limit, ${budgetWindowS('f')} as window_s, ${bucketS('f')} as bucket_s,
         greatest(?::int, ${bucketS('f')}) as step_s
       from workflow f where f.workflow_id = ?
     ), steps as (
       select t.*, to_timestamp((floor(extract(epoch from now()) / t.step_s) - g) * t.step_s) as start
       from terms t, generate_series(0, ceil(?::float8 / t.step_s)::int - 1) g
     )
     select s.start, s.limit, s.window_s, s.step_s,
       coalesce((select sum(w.cost) from workflow_spend w where w.workflow_id = s.workflow_id
         and w.bucket_start >= s.start and w.bucket_start < s.start + make_interval(secs => s.step_s)), 0) as cost,
       coalesce((select sum(w.cost) from workflow_spend w where w.workflow_id = s.workflow_id
         and w.bucket_start > least(s.start + make_interval(secs => s.step_s), now()) - make_interval(secs => s.window_s + s.bucket_s)
         and w.bucket_start < s.start + make_interval(secs => s.step_s)), 0) as window_spend
     from steps s order by s.start`,
    [stepS, workflowId, spanS],
  );
  const budgeted = workflow.budget !== null && workflow.budget !== undefined;
  return {
    workflow_id: workflowId,
    budget: workflow.budget ?? null,
    budget_limit: budgeted && rows[0]?.limit != null ? Number(rows[0].limit) : null,
    budget_window_s: budgeted && rows[0] ? Number(rows[0].window_s) : null,
    window,
    step_s: rows[0] ? Number(rows[0].step_s) : stepS,
    steps: rows.map((row) => ({
      start: new Date(row.start).toISOString(),
      cost: Number(row.cost),
      window_spend: budgeted ? Number(row.window_spend) : null,
    })),
  };
}
