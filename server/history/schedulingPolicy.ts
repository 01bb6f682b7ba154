import type { ServerConfig } from '../config';
import type { RetryPolicy } from './decideAfterFailure';

/** The knobs of history-driven scheduling, from the server configuration. */
export interface SchedulingPolicy {
  headroom: number;
  retry: RetryPolicy;
}

export function schedulingPolicyOf(config: ServerConfig): SchedulingPolicy {
  return { headroom: config.learnedHeadroom, retry: { baseDelayS: config.retryBaseDelayS, maxDelayS: config.retryMaxDelayS } };
}
