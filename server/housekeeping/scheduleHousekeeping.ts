import cron, { type ScheduledTask } from 'node-cron';
import type { MikroORM } from '@mikro-orm/postgresql';
import { pruneTaskHistory } from '../history/pruneTaskHistory';
import { rollUpTaskKeyCounters } from '../history/rollUpTaskKeyCounters';
import type { Logger } from '../../common/logger';
import { refreshUnschedulable } from '../scheduler/refreshUnschedulable';
import { ADVISORY_LOCKS, runWithAdvisoryLock } from './advisoryLock';
import { markLostWorkers } from './markLostWorkers';
import { checkAllRunBudgets } from '../runs/runBudgets';
import type { SchedulingPolicy } from '../history/schedulingPolicy';

export interface Housekeeping {
  /** Runs the frequent jobs once now (tests use this). */
  runOnce(): Promise<void>;
  /** Runs the history retention once now. */
  pruneHistoryOnce(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Periodic jobs on node-cron. Each takes its own advisory lock, so with several server processes on one
 * database only one runs each job at a time; a tick that finds the previous run still going is skipped.
 */
export function scheduleHousekeeping(
  orm: MikroORM,
  logger: Logger,
  options: { intervalS: number; heartbeatTimeoutS: number; historyRetentionRuns: number; policy: SchedulingPolicy },
): Housekeeping {
  const startedAt = Date.now();
  // One timer per process for the earliest moment a budget-paused run frees up: the run resumes then, not at
  // the next tick (every process sets it; checking a run twice changes nothing).
  let budgetTimer: NodeJS.Timeout | null = null;
  let stopped = false;
  const checkBudgets = async (): Promise<void> => {
    const freesAt = await checkAllRunBudgets(orm.em.fork(), options.policy);
    if (budgetTimer) clearTimeout(budgetTimer);
    budgetTimer = null;
    if (freesAt && !stopped) {
      budgetTimer = setTimeout(() => {
        budgetTimer = null;
        checkBudgets().catch((error: unknown) => logger.error({ err: error, job: 'worksched-run-budgets' }, 'run budget check failed; it runs again at the next tick'));
      }, Math.max(0, freesAt.getTime() - Date.now()) + 50);
      budgetTimer.unref();
    }
  };
  const runOnce = async () => {
    // Just after a (re)start, every worker's last heartbeat looks old by the length of the outage: give them one
    // timeout to reach us before calling any of them lost, or a server restart would kill running work.
    const upLongEnough = Date.now() - startedAt >= options.heartbeatTimeoutS * 1000;
    const lost = !upLongEnough ? null : await runWithAdvisoryLock(orm.em.fork(), ADVISORY_LOCKS.lostWorkers, (em) => markLostWorkers(em, options.heartbeatTimeoutS, options.policy));
    if (lost && lost.workers.length + lost.requeued.length + lost.aborted.length > 0) {
      logger.warn(lost, 'lost workers: marked offline, their requests requeued or aborted');
    }
    await rollUpTaskKeyCounters(orm.em.fork());
    const changed = await runWithAdvisoryLock(orm.em.fork(), ADVISORY_LOCKS.unschedulable, (em) => refreshUnschedulable(em));
    if (changed) logger.info({ changed }, 'unschedulable reasons of pending requests updated');
    await checkBudgets();
  };
  const pruneHistoryOnce = async () =>
    (await runWithAdvisoryLock(orm.em.fork(), ADVISORY_LOCKS.historyRetention, (em) => pruneTaskHistory(em, options.historyRetentionRuns))) ?? 0;

  const tasks: ScheduledTask[] = [];
  const inFlight = new Set<Promise<unknown>>();
  const every = (expression: string, name: string, job: () => Promise<unknown>) => {
    let running = false;
    tasks.push(
      cron.schedule(expression, () => {
        if (running) return;
        running = true;
        const run = job()
          .catch((error: unknown) => logger.error({ err: error, job: name }, 'housekeeping job failed; it runs again at the next tick'))
          .finally(() => {
            running = false;
            inFlight.delete(run);
          });
        inFlight.add(run);
      }, { name }),
    );
  };
  every(`*/${options.intervalS} * * * * *`, 'worksched-lost-workers', runOnce);
  every('17 */10 * * * *', 'worksched-history-retention', async () => {
    const deleted = await pruneHistoryOnce();
    if (deleted) logger.info({ deleted }, 'task history pruned');
  });
  return {
    runOnce,
    pruneHistoryOnce,
    stop: async () => {
      stopped = true;
      if (budgetTimer) clearTimeout(budgetTimer);
      for (const task of tasks) {
        await task.stop();
        await task.destroy();
      }
      await Promise.allSettled([...inFlight]);
    },
  };
}
