import type { EntityManager } from '@mikro-orm/postgresql';
import { backoffDelay } from '../../common/backoff';
import { ERROR_CODES, type OutputData } from '../../protocol/outputData';
import { formatBytes } from '../../protocol/units';
import type { WorkRequest } from '../../entities';
import { earlierSuccessQuery } from '../sql/earlierSuccess';
import { historyKeyOf, historyLevels } from './historyKey';

export type FailureDecision =
  | { kind: 'final'; reason: string }
  | { kind: 'retry'; reason: string; delayS: number; memory?: number; timeLimitS?: number };

export interface RetryPolicy {
  baseDelayS: number;
  maxDelayS: number;
}

/**
 * After a failed attempt: is the failure final, or worth another attempt? A run killed for memory or time is
 * retried with that limit doubled (memory capped at the largest enabled worker). Otherwise history decides:
 * a task that never succeeded fails for good; one that succeeded before is retried, up to max_attempts, with
 * exponential back-off and jitter.
 */
export async function decideAfterFailure(em: EntityManager, row: WorkRequest, output: OutputData, policy: RetryPolicy): Promise<FailureDecision> {
  const attemptsText = `attempt ${row.attempt} of ${row.maxAttempts}`;
  if (row.attempt >= row.maxAttempts) return { kind: 'final', reason: `no attempts left (${attemptsText})` };
  const delayS = retryDelayS(row.attempt, policy);
  const code = output.errors?.[0]?.code;

  if (code === ERROR_CODES.outOfMemory) {
    const peak = Math.max(row.needMemory ?? 0, output.runtime_statistics?.memory ?? 0);
    const largest = await largestWorkerMemory(em);
    if (peak > 0 && largest !== null && peak < largest) {
      const memory = Math.min(peak * 2, largest);
      const capped = memory < peak * 2 ? ` (capped at the largest worker's ${formatBytes(largest)})` : '';
      return { kind: 'retry', delayS, memory, reason: `killed for out_of_memory at ${formatBytes(peak)}; retrying with memory ≥ ${formatBytes(memory)}${capped}` };
    }
    if (peak > 0 && largest !== null) {
      return { kind: 'final', reason: `killed for out_of_memory at ${formatBytes(peak)}, and no worker has more memory (largest: ${formatBytes(largest)})` };
    }
  }
  if (code === ERROR_CODES.timeLimitExceeded && row.timeLimitS) {
    const timeLimitS = row.timeLimitS * 2;
    return { kind: 'retry', delayS, timeLimitS, reason: `killed at its time limit of ${row.timeLimitS}s; retrying with ${timeLimitS}s` };
  }

  if (row.taskData.use_history === false) {
    return { kind: 'final', reason: 'final: this request does not use history (use_history: false), so nothing says a retry would help' };
  }
  const lastSuccess = await findEarlierSuccess(em, row);
  if (!lastSuccess) return { kind: 'final', reason: `no earlier successful run of ${lastSuccessLabel(row)}: the failure is final` };
  return {
    kind: 'retry',
    delayS,
    reason: `${lastSuccess.label} succeeded before (work request #${lastSuccess.workRequestId ?? '?'}): retrying`,
  };
}

/** base × 2^(attempt-1), ±25 % jitter (common/backoff), capped, to a tenth of a second: never more than maxDelayS. */
export function retryDelayS(attempt: number, policy: RetryPolicy): number {
  return Math.min(policy.maxDelayS, Math.round(backoffDelay(attempt - 1, policy.baseDelayS, policy.maxDelayS) * 10) / 10);
}

function lastSuccessLabel(row: WorkRequest): string {
  return historyLevels(historyKeyOf(row))[0].label;
}

/**
 * The most specific key level with any runs decides whether the task ever succeeded. Runs of this request's own
 * retry chain (earlier attempts it supersedes, requeues of the same row) are not evidence either way: otherwise
 * a chain retried on a wider level's success would turn final after its own first failure.
 */
async function findEarlierSuccess(em: EntityManager, row: WorkRequest): Promise<{ label: string; workRequestId: number | null } | null> {
  for (const level of historyLevels(historyKeyOf(row))) {
    const query = earlierSuccessQuery(row.id, level);
    const rows = await em.execute<{ any_runs: boolean; work_request_id: string | null }[]>(query.text, query.values);
    const found = rows[0];
    if (found?.work_request_id) return { label: level.label, workRequestId: Number(found.work_request_id) };
    if (found?.any_runs) return null;
  }
  return null;
}

async function largestWorkerMemory(em: EntityManager): Promise<number | null> {
  const rows = await em.execute<{ largest: string | null }[]>(`select max(total_memory) as largest from worker where enabled`);
  return rows[0]?.largest ? Number(rows[0].largest) : null;
}
