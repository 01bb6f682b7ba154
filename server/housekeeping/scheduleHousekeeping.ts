import cron, { type ScheduledTask } from 'node-cron';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from '../logger';
import { ADVISORY_LOCKS, runWithAdvisoryLock } from './advisoryLock';
import { markLostWorkers } from './markLostWorkers';

export interface Housekeeping {
  /** Runs every job once now (tests and `worksched` admin commands use this). */
  runOnce(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the periodic jobs on node-cron; each takes its advisory lock, so only one server process runs it. */
export function scheduleHousekeeping(
  orm: MikroORM,
  logger: Logger,
  options: { intervalS: number; heartbeatTimeoutS: number },
): Housekeeping {
  let running: Promise<void> | null = null;
  const runOnce = async () => {
    const report = await runWithAdvisoryLock(orm.em.fork(), ADVISORY_LOCKS.lostWorkers, (em) =>
      markLostWorkers(em, options.heartbeatTimeoutS),
    );
    if (report && report.workers.length + report.requeued.length + report.aborted.length > 0) {
      logger.warn(report, 'lost workers: marked offline, their requests requeued or aborted');
    }
  };
  const tick = () => {
    if (running) return; // the previous run is still going: skip rather than pile up
    running = runOnce()
      .catch((error: unknown) => logger.error({ err: error }, 'housekeeping failed; will retry at the next tick'))
      .finally(() => {
        running = null;
      });
  };
  const task: ScheduledTask = cron.schedule(`*/${options.intervalS} * * * * *`, tick, { name: 'worksched-housekeeping', noOverlap: true });
  return {
    runOnce,
    stop: async () => {
      await task.stop();
      await task.destroy();
      await running;
    },
  };
}
