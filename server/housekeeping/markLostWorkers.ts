import type { EntityManager } from '@mikro-orm/postgresql';
import { LockMode } from '@mikro-orm/postgresql';
import { ERROR_CODES } from '../../protocol/outputData';
import { Worker, WorkRequest } from '../../entities';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { tryLockWorkflow } from '../workflows/lockWorkflows';
import { requeueOrAbortRunning } from '../workRequests/requeueWorkRequest';

export interface LostWorkersReport {
  workers: string[];
  requeued: number[];
  aborted: number[];
}

/**
 * Workers silent for longer than `timeoutS` are marked offline; their running requests go back to pending as a
 * new attempt (or are aborted with `worker_lost` when they may not be interrupted). Also catches requests left
 * running on workers already offline (e.g. claimed just before the worker died) or disabled (a claim that
 * raced the disable).
 */
export async function markLostWorkers(em: EntityManager, timeoutS: number, policy: SchedulingPolicy): Promise<LostWorkersReport> {
  const report: LostWorkersReport = { workers: [], requeued: [], aborted: [] };
  const cutoff = new Date(Date.now() - timeoutS * 1000);
  const lost = await em.find(Worker, { online: true, lastSeenAt: { $lt: cutoff } }, { lockMode: LockMode.PESSIMISTIC_PARTIAL_WRITE });
  for (const worker of lost) {
    worker.online = false;
    report.workers.push(worker.name);
  }
  await em.flush();
  const stranded = await em.execute<{ id: string }[]>(
    `select r.id from work_request r join worker w on w.id = r.worker_id
     where r.status = 'running' and (not w.online or not w.enabled)
     for update of r skip locked`,
  );
  for (const { id } of stranded) {
    const row = await em.findOneOrFail(WorkRequest, { id: Number(id) }, { populate: ['worker'] });
    // Holding the task's row already: take its workflow's lock only if free (lock order), else next pass.
    if (row.workflowId && !(await tryLockWorkflow(em, row.workflowId))) continue;
    const name = row.worker?.name ?? 'unknown';
    const why = row.worker && !row.worker.enabled
      ? `worker ${name} was disabled while running attempt ${row.attempt}`
      : `worker ${name} stopped sending heartbeats (timeout ${timeoutS}s) while running attempt ${row.attempt}`;
    const outcome = await requeueOrAbortRunning(em, row, why, ERROR_CODES.workerLost, policy);
    (outcome === 'requeued' ? report.requeued : report.aborted).push(row.id);
  }
  return report;
}
