import { defineEntity, type InferEntity } from '@mikro-orm/core';
import { LOG_STREAMS } from '../protocol/workRequest';
import { WorkRequest } from './WorkRequest';

/** One log entry of a work request, as shipped by its worker; (work_request, seq) is unique so re-sends are no-ops. */
export const LogChunk = defineEntity({
  name: 'LogChunk',
  tableName: 'log_chunk',
  properties: (p) => ({
    id: p.bigint('number').primary().autoincrement(),
    workRequest: p.manyToOne(WorkRequest).deleteRule('cascade'),
    seq: p.integer(),
    ts: p.datetime(),
    stream: p.enum([...LOG_STREAMS]),
    text: p.text(),
  }),
  uniques: [{ properties: ['workRequest', 'seq'] }],
});
export type LogChunk = InferEntity<typeof LogChunk>;
