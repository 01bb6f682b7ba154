import type { ServerConfig } from '../config';
import type { RetryPolicy } from './decideAfterFailure';

/** The knobs of history-driven scheduling, from the server configuration. */
export interface SchedulingPolicy {
  headroom: number;
  /** Learned requirements look at this many newest successful runs (the retention size). */
  sampleRuns: number;
  retry: RetryPolicy;
  /** WORKSCHED_MAX_RUNNING_WORKFLOWS / WORKSCHED_MAX_PENDING_WORKFLOWS (null: no limit). */
  workflows: { maxRunning: number | null; maxPending: number | null };
}

export function schedulingPolicyOf(config: ServerConfig): SchedulingPolicy {
  return {
    headroom: config.learnedHeadroom,
    sampleRuns: config.historyRetentionRuns,
    retry: { baseDelayS: config.retryBaseDelayS, maxDelayS: config.retryMaxDelayS },
    workflows: { maxRunning: config.maxRunningWorkflows ?? null, maxPending: config.maxPendingWorkflows ?? null },
  };
}
