import type { EntityManager } from '@mikro-orm/postgresql';
import type { WorkerResources } from '../../protocol/workerApi';
import { Worker } from '../../entities';
import { ERROR_CODES } from '../../protocol/outputData';
import { WorkRequest } from '../../entities';
import { NotFoundError } from '../errors';
import { requeueOrAbortRunning } from '../workRequests/requeueWorkRequest';
import { resourceColumns } from './registerWorker';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { tryLockWorkflow } from '../workflows/lockWorkflows';
import { transactional } from '../transactional';

/**
 * Records that the worker is alive (and its fresh resources) and answers which of the requests it says it runs
 * it must stop: cancelled ones, ones the server gave to someone else after declaring it lost, and preempted ones
 * (also listed in `preempted`, so the worker does not count them as cancelled).
 */
export async function recordHeartbeat(
  em: EntityManager,
  workerId: number,
  report: { resources?: WorkerResources; running: number[]; concurrency?: number; tags?: string[]; cost_per_hour?: number | null },
  /** receivedAtMs: when the heartbeat arrived (performance.now()), which the claim grace counts back from. */
  options: { claimGraceS: number; policy: SchedulingPolicy; receivedAtMs: number },
): Promise<{ cancel: number[]; preempted: number[] }> {
  return transactional(em, async (tem) => {
    const worker = await tem.findOne(Worker, { id: workerId });
    if (!worker) throw new NotFoundError(`worker ${workerId} does not exist`);
    if (report.resources) tem.assign(worker, resourceColumns(report.resources));
    if (report.concurrency !== undefined) worker.concurrency = report.concurrency;
    if (report.tags !== undefined) worker.tags = report.tags;
    if (report.cost_per_hour !== undefined) worker.costPerHour = report.cost_per_hour;
    worker.lastSeenAt = new Date();
    worker.online = true;
    await tem.flush();
    await reclaimForgottenRequests(tem, worker.name, workerId, report.running, options.claimGraceS, options.receivedAtMs, options.policy);
    if (report.running.length === 0) return { cancel: [], preempted: [] };
    // Unknown ids (deleted) must stop too, hence the outer join from the reported list.
    // Preempted: requeued for a higher-priority request (pending, or running elsewhere since), not cancelled.
    const rows = await tem.execute<{ id: string; preempted: boolean }[]>(
      `select i.id, coalesce(r.preempted_at is not null and r.status in ('pending', 'running'), false) as preempted
       from unnest(array[?]::bigint[]) as i(id)
       left join work_request r on r.id = i.id
       where r.id is null or not (r.status = 'running' and r.worker_id = ?)`,
      [report.running, workerId],
    );
    const cancel = rows.map((row) => Number(row.id));
    return { cancel, preempted: rows.filter((row) => row.preempted).map((row) => Number(row.id)) };
  });
}

/**
 * A claim answer may still be on its way when a heartbeat is sent, and a worker that hung up just as its
 * answer went out never got it (the server cannot tell): so requests the server has running on this worker
 * that the worker no longer mentions, and that it got more than `graceS` ago, go back to pending, rather
 * than after a heartbeat timeout that never comes while the worker is alive.
 * The grace counts back from the heartbeat's arrival (`receivedAtMs`, performance.now()), not from when it is
 * processed: a heartbeat that waited in the server (pool, locks) past the grace was still written before a
 * claim answer that went out just before it arrived. The agent lists results still waiting in its outbox as
 * running, so those are not touched.
 */
async function reclaimForgottenRequests(
  em: EntityManager,
  workerName: string,
  workerId: number,
  running: number[],
  graceS: number,
  receivedAtMs: number,
  policy: SchedulingPolicy,
): Promise<void> {
  // In the database's clock (started_at's): its clock now, less the time since arrival measured here.
  const sinceArrivalS = Math.max(0, performance.now() - receivedAtMs) / 1000;
  const forgotten = await em.execute<{ id: string }[]>(
    `select id from work_request
     where status = 'running' and worker_id = ? and id <> all(array[?]::bigint[])
       and started_at < clock_timestamp() - make_interval(secs => ?)
     for update skip locked`,
    [workerId, running, graceS + sinceArrivalS],
  );
  for (const { id } of forgotten) {
    const row = await em.findOneOrFail(WorkRequest, { id: Number(id) }, { populate: ['worker'] });
    // Holding the task's row already: take its workflow's lock only if free (lock order), else next heartbeat.
    if (row.workflowId && !(await tryLockWorkflow(em, row.workflowId))) continue;
    await requeueOrAbortRunning(em, row, `worker ${workerName} no longer runs it (restarted, or never received it)`, ERROR_CODES.workerLost, policy);
  }
}
