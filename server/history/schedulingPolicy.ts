import type { ServerConfig } from '../config';
import type { RetryPolicy } from './decideAfterFailure';

/** The knobs of history-driven scheduling, from the server configuration. */
export interface SchedulingPolicy {
  headroom: number;
  /** Learned requirements look at this many newest successful runs (the retention size). */
  sampleRuns: number;
  retry: RetryPolicy;
}

export function schedulingPolicyOf(config: ServerConfig): SchedulingPolicy {
  return { headroom: config.learnedHeadroom, sampleRuns: config.historyRetentionRuns, retry: { baseDelayS: config.retryBaseDelayS, maxDelayS: config.retryMaxDelayS } };
}
