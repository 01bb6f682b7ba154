import type { EntityManager } from '@mikro-orm/postgresql';
import { Worker } from '../../entities';

/** All workers with their running counts, by name. */
export async function listWorkers(em: EntityManager): Promise<Array<{ worker: Worker; running: number }>> {
  const workers = await em.find(Worker, {}, { orderBy: { name: 'asc' } });
  const counts = await em.execute<{ worker_id: string; running: string }[]>(
    `select worker_id, count(*) as running from work_request where status = 'running' and worker_id is not null group by worker_id`,
  );
  const byWorker = new Map(counts.map((row) => [Number(row.worker_id), Number(row.running)]));
  return workers.map((worker) => ({ worker, running: byWorker.get(worker.id) ?? 0 }));
}
