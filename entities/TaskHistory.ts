import { defineEntity, type InferEntity } from '@mikro-orm/core';
import { WORK_REQUEST_RESULTS } from '../protocol/workRequest';

/**
 * One finished attempt of a task, keyed by (task_name, subject, context) — '' stands for "none" so keys compare
 * with plain equality. Figures keep full precision (milliseconds, bytes); the worker's resources at the time
 * are kept as reference data (seed 000).
 */
export const TaskHistory = defineEntity({
  name: 'TaskHistory',
  tableName: 'task_history',
  properties: (p) => ({
    id: p.bigint('number').primary().autoincrement(),
    taskName: p.string(),
    subject: p.text().default(''),
    context: p.text().default(''),
    workRequestId: p.bigint('number').nullable(),
    attempt: p.integer(),
    result: p.enum([...WORK_REQUEST_RESULTS]),
    errorCode: p.string().nullable(),
    workerId: p.bigint('number').nullable(),
    workerName: p.string().nullable(),
    workerCpuCount: p.integer().nullable(),
    workerTotalMemory: p.bigint('number').nullable(),
    durationMs: p.bigint('number').nullable(),
    cpuTimeMs: p.bigint('number').nullable(),
    memory: p.bigint('number').nullable(),
    diskSpace: p.bigint('number').nullable(),
    availableMemory: p.bigint('number').nullable(),
    availableDiskSpace: p.bigint('number').nullable(),
    cpuCount: p.integer().nullable(),
    measurement: p.string().nullable(),
    cost: p.double().nullable(),
    startedAt: p.datetime().nullable(),
    completedAt: p.datetime(),
  }),
});
export type TaskHistory = InferEntity<typeof TaskHistory>;
