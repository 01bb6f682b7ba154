import type { Worker as WorkerJson } from '../../protocol/workerApi';
import type { Worker } from '../../entities';

export function workerState(row: Worker, running: number): WorkerJson['state'] {
  if (!row.enabled) return 'disabled';
  if (!row.online) return 'offline';
  return running > 0 ? 'busy' : 'idle';
}

export function serializeWorker(row: Worker, running: number): WorkerJson {
  return {
    id: row.id,
    name: row.name,
    state: workerState(row, running),
    resources: row.resources,
    tags: row.tags,
    concurrency: row.concurrency,
    running,
    cost_per_hour: row.costPerHour === null || row.costPerHour === undefined ? null : Number(row.costPerHour),
    registered_at: new Date(row.registeredAt).toISOString(),
    last_seen_at: row.lastSeenAt ? new Date(row.lastSeenAt).toISOString() : null,
  };
}
