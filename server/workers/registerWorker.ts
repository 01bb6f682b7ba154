import type { EntityManager } from '@mikro-orm/postgresql';
import type { RegisterWorkerRequest, WorkerResources } from '../../protocol/workerApi';
import { Worker } from '../../entities';
import { ConflictError } from '../errors';
import { createApiToken } from '../tokens';
import { transactional } from '../transactional';

/** Resource columns the claim query compares, from what the worker reported. */
export function resourceColumns(resources: WorkerResources) {
  return {
    resources,
    cpuCount: resources.cpu_count,
    totalMemory: resources.total_memory,
    availableMemory: resources.available_memory,
    availableDiskSpace: resources.available_disk_space,
    gpuCount: resources.gpus.length,
  };
}

/**
 * Registers a new worker and issues its token (returned once, stored hashed). A name already taken is a 409:
 * a restarted worker keeps its identity by reusing its token, not by registering again.
 */
export async function registerWorker(
  em: EntityManager,
  request: Required<Pick<RegisterWorkerRequest, 'name'>> & { resources: WorkerResources; tags: string[]; concurrency: number; cost_per_hour?: number | null },
): Promise<{ worker: Worker; token: string }> {
  return transactional(em, async (tem) => {
    const existing = await tem.findOne(Worker, { name: request.name });
    if (existing) {
      throw new ConflictError(
        `a worker named "${request.name}" is already registered; start it with its saved token, or pick another --name`,
        'worker_name_taken',
      );
    }
    const worker = tem.create(Worker, {
      name: request.name,
      enabled: true,
      online: true,
      ...resourceColumns(request.resources),
      tags: request.tags,
      concurrency: request.concurrency,
      costPerHour: request.cost_per_hour ?? null,
      lastSeenAt: new Date(),
    });
    await tem.flush();
    const { token } = await createApiToken(tem, 'worker', { name: `worker ${request.name}`, workerId: worker.id });
    return { worker, token };
  });
}
