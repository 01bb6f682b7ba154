import { defineEntity, type InferEntity } from '@mikro-orm/core';

/**
 * A worker's runs in one UTC hour (completed_at): how many, how many failed (failure or error), and their busy
 * time (duration, or completed − started without one). Kept equal to task_history by the roll-up of
 * task_key_increment and by retention; GET /statistics/workers reads a window's whole hours from here.
 */
export const WorkerHourStatistics = defineEntity({
  name: 'WorkerHourStatistics',
  tableName: 'worker_hour_statistics',
  properties: (p) => ({
    workerId: p.bigint('number').primary(),
    hour: p.datetime().primary(),
    runs: p.bigint('number').default(0),
    failures: p.bigint('number').default(0),
    busyMs: p.decimal('string').default(0),
  }),
});
export type WorkerHourStatistics = InferEntity<typeof WorkerHourStatistics>;
