import { defineEntity, type InferEntity } from '@mikro-orm/core';
import type { WorkerResources } from '../protocol/workerApi';

/**
 * A registered worker agent. The resources it reports are kept whole (`resources`) and flattened into columns
 * so the claim query can compare them with a request's requirements in SQL.
 */
export const Worker = defineEntity({
  name: 'Worker',
  tableName: 'worker',
  properties: (p) => ({
    id: p.bigint('number').primary().autoincrement(),
    name: p.string().unique(),
    enabled: p.boolean().default(true),
    online: p.boolean().default(true),
    resources: p.json<WorkerResources>(),
    cpuCount: p.integer(),
    totalMemory: p.bigint('number'),
    availableMemory: p.bigint('number'),
    availableDiskSpace: p.bigint('number'),
    gpuCount: p.integer().default(0),
    tags: p.array().default([]),
    concurrency: p.integer().default(1),
    costPerHour: p.double().nullable(),
    registeredAt: p.datetime().onCreate(() => new Date()),
    lastSeenAt: p.datetime().nullable(),
  }),
});
export type Worker = InferEntity<typeof Worker>;
