import { defineEntity, type InferEntity } from '@mikro-orm/core';
import { CATCH_UP_POLICIES, OVERLAP_POLICIES, type ScheduleTrigger } from '../protocol/schedules';
import type { TaskSpec } from '../protocol/taskSpec';
import type { WorkflowTemplate } from '../protocol/workflow';

/**
 * A schedule is a row, not a timer: every server process's schedules tick reads the due ones (`next_fire_at`),
 * so a schedule created on one replica fires even if that replica is gone. Counters are kept here so listing
 * a thousand schedules never counts firings.
 */
export const Schedule = defineEntity({
  name: 'Schedule',
  tableName: 'schedule',
  properties: (p) => ({
    id: p.bigint('number').primary().autoincrement(),
    name: p.text().unique(),
    trigger: p.json<ScheduleTrigger>(),
    /** The normalised task spec each firing creates. */
    // json, not jsonb: jsonb reorders object keys, and the order of `parameters` is the command line's order.
    spec: p.json<TaskSpec>().columnType('json').nullable(),
    /** Or the workflow template each firing creates (POST /workflows body without workflow_id). */
    workflow: p.json<WorkflowTemplate>().columnType('json').nullable(),
    overlap: p.enum([...OVERLAP_POLICIES]),
    catchUp: p.enum([...CATCH_UP_POLICIES]),
    enabled: p.boolean().default(true),
    /** The next fire time of a cron or every trigger; null for files triggers. */
    nextFireAt: p.datetime().nullable(),
    firingsCount: p.bigint('number').default(0),
    skippedCount: p.bigint('number').default(0),
    lastError: p.text().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  }),
});
export type Schedule = InferEntity<typeof Schedule>;
