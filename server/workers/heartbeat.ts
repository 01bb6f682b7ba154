import type { EntityManager } from '@mikro-orm/postgresql';
import type { WorkerResources } from '../../protocol/workerApi';
import { Worker } from '../../entities';
import { NotFoundError } from '../errors';
import { resourceColumns } from './registerWorker';

/**
 * Records that the worker is alive (and its fresh resources) and answers which of the requests it says it runs
 * it must stop: cancelled ones, and ones the server gave to someone else after declaring it lost.
 */
export async function recordHeartbeat(
  em: EntityManager,
  workerId: number,
  report: { resources?: WorkerResources; running: number[] },
): Promise<{ cancel: number[] }> {
  return em.transactional(async (tem) => {
    const worker = await tem.findOne(Worker, { id: workerId });
    if (!worker) throw new NotFoundError(`worker ${workerId} does not exist`);
    if (report.resources) tem.assign(worker, resourceColumns(report.resources));
    worker.lastSeenAt = new Date();
    worker.online = true;
    await tem.flush();
    if (report.running.length === 0) return { cancel: [] };
    // Unknown ids (deleted) must stop too, hence the outer join from the reported list.
    const rows = await tem.execute<{ id: string }[]>(
      `select i.id from unnest(array[?]::bigint[]) as i(id)
       left join work_request r on r.id = i.id
       where r.id is null or not (r.status = 'running' and r.worker_id = ?)`,
      [report.running, workerId],
    );
    const cancel = rows.map((row) => Number(row.id));
    return { cancel };
  });
}
