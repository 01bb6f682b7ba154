import { defineEntity, type InferEntity } from '@mikro-orm/core';
import { Schedule } from './Schedule';

/**
 * A file a files trigger has seen, by path + size + mtime (a rewritten file is a new one): the ledger that makes
 * each file fire once, across restarts and replicas. `firing` is null while it waits for a full batch.
 */
export const ScheduleFile = defineEntity({
  name: 'ScheduleFile',
  tableName: 'schedule_file',
  properties: (p) => ({
    schedule: p.manyToOne(Schedule).primary().deleteRule('cascade'),
    path: p.text().primary(),
    size: p.bigint('number').primary(),
    /** Modification time in nanoseconds since the epoch, as stat gives it (exact, unlike a float of ms). */
    mtimeNs: p.bigint('string').primary(),
    firingId: p.bigint('number').nullable(),
    seenAt: p.datetime().onCreate(() => new Date()),
  }),
});
export type ScheduleFile = InferEntity<typeof ScheduleFile>;
