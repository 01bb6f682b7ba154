import { defineEntity, type InferEntity } from '@mikro-orm/core';
import { FIRING_REASONS } from '../protocol/schedules';
import { Schedule } from './Schedule';

/**
 * One firing of a schedule, keyed by (schedule, fire_time) under a unique constraint: the row and the work it
 * created are written in one transaction, so however many server processes tick, each fire time fires once.
 */
export const ScheduleFiring = defineEntity({
  name: 'ScheduleFiring',
  tableName: 'schedule_firing',
  uniques: [{ properties: ['schedule', 'fireTime'] }],
  properties: (p) => ({
    id: p.bigint('number').primary().autoincrement(),
    schedule: p.manyToOne(Schedule).deleteRule('cascade'),
    fireTime: p.datetime(),
    reason: p.enum([...FIRING_REASONS]),
    /** The first attempt of the work request it created (retries supersede it). */
    workRequestId: p.bigint('number').nullable(),
    workflowId: p.string().length(200).nullable(),
    files: p.json<string[]>().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  }),
});
export type ScheduleFiring = InferEntity<typeof ScheduleFiring>;
