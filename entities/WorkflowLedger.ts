import { defineEntity, type InferEntity } from '@mikro-orm/core';

/**
 * One worker's share of a run, added to at each completion of the run's tasks: what the per-worker table shows,
 * and what max cost per result compares (`stop_reason` set: the claim gives it no more of the run's tasks).
 */
export const WorkflowWorker = defineEntity({
  name: 'WorkflowWorker',
  tableName: 'workflow_worker',
  properties: (p) => ({
    workflowId: p.string().length(200).primary(),
    workerId: p.bigint('number').primary(),
    tasks: p.integer().default(0),
    successes: p.integer().default(0),
    results: p.bigint('number').default(0),
    cost: p.double().default(0),
    workMs: p.bigint('number').default(0),
    stopReason: p.text().nullable(),
    stoppedAt: p.datetime().nullable(),
  }),
});
export type WorkflowWorker = InferEntity<typeof WorkflowWorker>;

/** A run's completed spend in one bucket of 1/60 of its budget window (1 s for X/min, 1 min otherwise). */
export const WorkflowSpend = defineEntity({
  name: 'WorkflowSpend',
  tableName: 'workflow_spend',
  properties: (p) => ({
    workflowId: p.string().length(200).primary(),
    bucketStart: p.datetime().primary(),
    cost: p.double().default(0),
  }),
});
export type WorkflowSpend = InferEntity<typeof WorkflowSpend>;
