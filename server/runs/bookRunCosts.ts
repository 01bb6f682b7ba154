import type { EntityManager } from '@mikro-orm/postgresql';
import { formatCost } from '../../common/formatCost';
import { bookRunCostsStatement } from '../sql/runLedger';

/** An attempt's cost: the worker's price per hour × the duration it measured; null without either. */
export function attemptCost(costPerHour: number | string | null | undefined, durationMs: number | null | undefined): number | null {
  if (costPerHour === null || costPerHour === undefined || durationMs === null || durationMs === undefined || Number.isNaN(durationMs)) return null;
  return (Number(costPerHour) * Number(durationMs)) / 3_600_000;
}

/**
 * Why a worker is stopped for a run, or null while it may go on: only after the warm-up (that much of its
 * work in the run), and when its cost per result is over the run's maximum (no results at all counts as over
 * once it has cost something).
 */
export function tooExpensiveReason(
  share: { cost: number; results: number; workMs: number },
  run: { maxCostPerResult: number | null; warmupS: number },
): string | null {
  if (run.maxCostPerResult === null || share.workMs < run.warmupS * 1000 || share.cost <= 0) return null;
  if (share.results === 0) return `too expensive: ${formatCost(share.cost)} spent, no results (max ${formatCost(run.maxCostPerResult)}/result)`;
  const perResult = share.cost / share.results;
  return perResult > run.maxCostPerResult ? `too expensive: ${formatCost(perResult)}/result > ${formatCost(run.maxCostPerResult)}` : null;
}

/**
 * Inside a completion's transaction (which holds the runs' locks): books the completed attempts `ids` of runs
 * in the run ledgers and stops the workers whose cost per result went over their run's maximum. Requests that
 * are not part of a run are ignored.
 */
export async function bookRunCosts(em: EntityManager, ids: number[]): Promise<void> {
  if (ids.length === 0) return;
  const statement = bookRunCostsStatement(ids);
  const shares = await em.execute<Array<{
    workflow_id: string; worker_id: string; results: string; cost: number; work_ms: string; stop_reason: string | null;
    max_cost_per_result: number | null; max_price_warmup_s: number;
  }>>(statement.text, statement.values);
  for (const share of shares) {
    if (share.stop_reason !== null) continue;
    const reason = tooExpensiveReason(
      { cost: Number(share.cost), results: Number(share.results), workMs: Number(share.work_ms) },
      { maxCostPerResult: share.max_cost_per_result === null ? null : Number(share.max_cost_per_result), warmupS: share.max_price_warmup_s },
    );
    if (reason) {
      await em.execute(`update workflow_worker set stop_reason = ?, stopped_at = now() where workflow_id = ? and worker_id = ?`, [reason, share.workflow_id, share.worker_id]);
    }
  }
}
