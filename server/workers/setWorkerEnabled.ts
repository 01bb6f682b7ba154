import type { EntityManager } from '@mikro-orm/postgresql';
import { LockMode } from '@mikro-orm/postgresql';
import { ERROR_CODES } from '../../protocol/outputData';
import { Worker, WorkRequest } from '../../entities';
import { NotFoundError } from '../errors';
import { notifyPendingWork } from '../workRequests/notifyChanges';
import { requeueOrAbortRunning } from '../workRequests/requeueWorkRequest';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { tryLockWorkflow } from '../workflows/lockWorkflows';
import { transactional } from '../transactional';

/**
 * Disables or enables a worker by name, in one transaction. A disabled worker still authenticates (its
 * heartbeat is answered, so it hears which tasks to stop) but its claims get nothing (claim SQL); its running
 * requests go back to pending as a new attempt, or are aborted, as for a lost worker. Enabling wakes claimers.
 */
export async function setWorkerEnabled(
  em: EntityManager,
  name: string,
  enabled: boolean,
  policy: SchedulingPolicy,
): Promise<{ worker: Worker; running: number; requeued: number[]; aborted: number[] }> {
  return transactional(em, async (tem) => {
    // FOR NO KEY UPDATE, not FOR UPDATE: a completion of this worker's requests holds its request's row and
    // takes a key-share lock on the worker (the foreign key), which FOR UPDATE would make wait for this while
    // this waits below for that request's row: a deadlock.
    const [locked] = await tem.execute<Array<{ id: string }>>(`select id from worker where name = ? for no key update`, [name]);
    const worker = locked ? await tem.findOne(Worker, { id: Number(locked.id) }) : null;
    if (!worker) throw new NotFoundError(`no worker named ${JSON.stringify(name)} (see \`worksched workers\`)`);
    const requeued: number[] = [];
    const aborted: number[] = [];
    const changed = worker.enabled !== enabled;
    worker.enabled = enabled;
    await tem.flush();
    if (!enabled) {
      // Also on a repeated disable: a claim that raced the first one may have left a request running here.
      const running = await tem.find(WorkRequest, { status: 'running', worker: worker.id }, { populate: ['worker'], lockMode: LockMode.PESSIMISTIC_WRITE, orderBy: { id: 'asc' } });
      for (const row of running) {
        // Lock order is workflow before task: a task whose workflow is busy is left to housekeeping's next pass.
        if (row.workflowId && !(await tryLockWorkflow(tem, row.workflowId))) continue;
        const outcome = await requeueOrAbortRunning(tem, row, `worker ${name} was disabled while running attempt ${row.attempt}`, ERROR_CODES.workerLost, policy);
        (outcome === 'requeued' ? requeued : aborted).push(row.id);
      }
    } else if (changed) {
      await notifyPendingWork(tem);
    }
    const rows = await tem.execute<{ n: string }[]>(`select count(*) as n from work_request where status = 'running' and worker_id = ?`, [worker.id]);
    return { worker, running: Number(rows[0].n), requeued, aborted };
  });
}
