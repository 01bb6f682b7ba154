import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from '../../common/logger';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { checkRunBudgets } from './runBudgets';

/**
 * A claim that filled a run's budget (its reservations reached it) has the run paused right after, outside the
 * claim: until then every claim would walk the run's pending rows only to find each over budget. In the
 * background (the claim's answer does not wait for 100,000 rows to be held), one check per run at a time.
 */
export function runPauser(forkEm: () => EntityManager, policy: SchedulingPolicy, logger: Logger): (workflowIds: string[]) => void {
  const checking = new Set<string>();
  const again = new Set<string>();
  const check = (workflowId: string): void => {
    if (checking.has(workflowId)) {
      again.add(workflowId);
      return;
    }
    checking.add(workflowId);
    checkRunBudgets(forkEm(), [workflowId], policy)
      .catch((error: unknown) => logger.error({ err: error, workflow: workflowId }, 'pausing a full run failed; housekeeping checks it at its next tick'))
      .finally(() => {
        checking.delete(workflowId);
        if (again.delete(workflowId)) check(workflowId);
      });
  };
  return (workflowIds) => {
    for (const workflowId of workflowIds) check(workflowId);
  };
}
