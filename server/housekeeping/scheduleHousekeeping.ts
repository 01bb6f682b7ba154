import cron, { type ScheduledTask } from 'node-cron';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { schedulesTicker, type SchedulesTickReport } from '../schedules/runSchedules';
import { pruneTaskHistory } from '../history/pruneTaskHistory';
import { pruneScheduleFirings, type FiringRetention } from '../schedules/pruneScheduleFirings';
import { rollUpTaskKeyCounters } from '../history/rollUpTaskKeyCounters';
import type { Logger } from '../../common/logger';
import { preemptForWaiting } from '../scheduler/preemptForWaiting';
import { pruneEstimates } from '../scheduler/pruneEstimates';
import { refreshEstimates, type EstimatesReport } from '../scheduler/refreshEstimates';
import { refreshUnschedulable } from '../scheduler/refreshUnschedulable';
import { refreshKeyEfficiency } from '../statistics/refreshKeyEfficiency';
import { ADVISORY_LOCKS, runWithAdvisoryLock } from './advisoryLock';
import { markLostWorkers } from './markLostWorkers';
import { isDatabaseUnavailable } from '../databaseErrors';
import { checkAllRunBudgets } from '../runs/runBudgets';

/** The periodic estimates pass waits this many times its last duration after it ended (see estimatesDue). */
const ESTIMATES_SPACING = 20;

export interface Housekeeping {
  /** Runs the frequent jobs once now (tests use this). */
  runOnce(): Promise<void>;
  /** Runs the expected start/finish pass once now (null: another server process is running it). */
  refreshEstimatesOnce(): Promise<EstimatesReport | null>;
  /** Runs the history retention once now. */
  pruneHistoryOnce(): Promise<number>;
  /** Fires the due schedules once now. */
  fireSchedulesOnce(): Promise<SchedulesTickReport>;
  /** Runs the schedule firing retention once now (0 also when another server process is running it). */
  pruneScheduleFiringsOnce(): Promise<number>;
  /** Deletes the estimates of requests that ended a day ago, or were deleted, once now (0 also when another process is). */
  pruneEstimatesOnce(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Periodic jobs on node-cron. Each takes its own advisory lock, so with several server processes on one
 * database only one runs each job at a time; a tick that finds the previous run still going is skipped.
 */
export function scheduleHousekeeping(
  orm: MikroORM,
  logger: Logger,
  options: {
    intervalS: number;
    heartbeatTimeoutS: number;
    historyRetentionRuns: number;
    pool: Pool;
    policy: SchedulingPolicy;
    preemptAfterS: number;
    learnedHeadroom: number;
    schedules: { maxExpansion: number; filesRescanS: number; firingRetention: FiringRetention };
  },
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
  // The estimates pass re-estimates every pending request; on a deep queue it costs PostgreSQL hundreds of ms.
  // The periodic tick runs it only once ESTIMATES_SPACING times its last duration has passed since it ended, so
  // under load it takes at most ~1/ESTIMATES_SPACING of the time (estimates lag a little more); on a small queue
  // it still runs every tick. runOnce (tests, explicit calls) always runs it.
  let estimatesEndedAt = 0;
  let estimatesTookMs = 0;
  const estimatesDue = () => Date.now() - estimatesEndedAt >= ESTIMATES_SPACING * estimatesTookMs;
  const timedRefreshEstimates = async () => {
    const started = Date.now();
    try {
      return await refreshEstimatesOnce();
    } finally {
      estimatesEndedAt = Date.now();
      estimatesTookMs = estimatesEndedAt - started;
    }
  };
  const frequentJobs = async (estimates: 'always' | 'when due') => {
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
    const preempted = await runWithAdvisoryLock(orm.em.fork(), ADVISORY_LOCKS.preemption, (em) => preemptForWaiting(em, options.preemptAfterS));
    if (preempted && preempted.length > 0) logger.info({ preempted }, 'preempted lower-priority requests for higher-priority ones that waited');
    // After preemption, so the estimates see the requeued requests.
    if (estimates === 'always' || estimatesDue()) await timedRefreshEstimates();
    await runWithAdvisoryLock(orm.em.fork(), ADVISORY_LOCKS.efficiency, (em) => refreshKeyEfficiency(em, { headroom: options.learnedHeadroom }));
    await checkBudgets();
  };
  const runOnce = () => frequentJobs('always');
  const refreshEstimatesOnce = () =>
    runWithAdvisoryLock(orm.em.fork(), ADVISORY_LOCKS.estimates, (em) => refreshEstimates(em, { sampleRuns: options.historyRetentionRuns }));
  const pruneHistoryOnce = async () =>
    (await runWithAdvisoryLock(orm.em.fork(), ADVISORY_LOCKS.historyRetention, (em) => pruneTaskHistory(em, options.historyRetentionRuns))) ?? 0;

  // The lock only saves the other replicas the work: the firing key's unique constraint is what makes it once.
  const fireSchedulesOnce = schedulesTicker(
    options.pool,
    orm.em,
    { firing: { policy: options.policy, maxExpansion: options.schedules.maxExpansion }, filesRescanS: options.schedules.filesRescanS },
    logger,
    (work) => runWithAdvisoryLock(orm.em.fork(), ADVISORY_LOCKS.schedules, () => work()),
  );
  const pruneScheduleFiringsOnce = async () =>
    (await runWithAdvisoryLock(orm.em.fork(), ADVISORY_LOCKS.scheduleFiringRetention, (em) => pruneScheduleFirings(em, options.schedules.firingRetention))) ?? 0;
  const pruneEstimatesOnce = async () => (await runWithAdvisoryLock(orm.em.fork(), ADVISORY_LOCKS.estimateRetention, (em) => pruneEstimates(em))) ?? 0;

  const tasks: ScheduledTask[] = [];
  const inFlight = new Set<Promise<unknown>>();
  const every = (expression: string, name: string, job: () => Promise<unknown>) => {
    let running = false;
    tasks.push(
      cron.schedule(expression, () => {
        if (running) return;
        running = true;
        const run = job()
          .catch((error: unknown) => {
            // An outage fails every tick: one line each, without the stack of a bug.
            if (isDatabaseUnavailable(error)) logger.warn({ job: name, reason: (error as Error).message.split('\n').pop() }, 'housekeeping job skipped: database unavailable');
            else logger.error({ err: error, job: name }, 'housekeeping job failed; it runs again at the next tick');
          })
          .finally(() => {
            running = false;
            inFlight.delete(run);
          });
        inFlight.add(run);
      }, { name }),
    );
  };
  every(`*/${options.intervalS} * * * * *`, 'worksched-lost-workers', () => frequentJobs('when due'));
  // Every second, whatever the housekeeping interval: an `every: "2s"` schedule fires about every 2 s.
  every('* * * * * *', 'worksched-schedules', async () => {
    const report = await fireSchedulesOnce();
    if (report.fired + report.skipped + report.missed > 0) logger.debug(report, 'schedules fired');
  });
  every('17 */10 * * * *', 'worksched-history-retention', async () => {
    const deleted = await pruneHistoryOnce();
    if (deleted) logger.info({ deleted }, 'task history pruned');
  });
  every('47 */10 * * * *', 'worksched-schedule-firing-retention', async () => {
    const deleted = await pruneScheduleFiringsOnce();
    if (deleted) logger.info({ deleted }, 'schedule firing history pruned');
  });
  every('27 */10 * * * *', 'worksched-estimate-retention', async () => {
    const deleted = await pruneEstimatesOnce();
    if (deleted) logger.info({ deleted }, 'estimates of ended requests pruned');
  });
  return {
    runOnce,
    refreshEstimatesOnce,
    pruneHistoryOnce,
    fireSchedulesOnce,
    pruneScheduleFiringsOnce,
    pruneEstimatesOnce,
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
