import { defineEntity, type InferEntity } from '@mikro-orm/core';
import { WORK_REQUEST_RESULTS } from '../protocol/workRequest';

/**
 * One finished run waiting to be counted into task_key. Completions only insert here (no shared row to lock, so
 * completions of the same task never queue behind each other); rollUpTaskKeyCounters folds these into task_key.
 */
export const TaskKeyIncrement = defineEntity({
  name: 'TaskKeyIncrement',
  tableName: 'task_key_increment',
  properties: (p) => ({
    id: p.bigint('number').primary().autoincrement(),
    taskName: p.string(),
    subject: p.text().default(''),
    context: p.text().default(''),
    result: p.enum([...WORK_REQUEST_RESULTS]),
    completedAt: p.datetime(),
    cost: p.double().nullable(),
    durationMs: p.bigint('number').nullable(),
    // For the worker's hourly figures (worker_hour_statistics); busy_ms as BUSY_MS computes it.
    workerId: p.bigint('number').nullable(),
    busyMs: p.decimal('string').nullable(),
  }),
});
export type TaskKeyIncrement = InferEntity<typeof TaskKeyIncrement>;
