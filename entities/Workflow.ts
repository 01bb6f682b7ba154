import { defineEntity, type InferEntity } from '@mikro-orm/core';
import type { UserMetadata } from '../protocol/taskSpec';
import { WORKFLOW_STATUSES } from '../protocol/workflow';

/**
 * A named set of work requests with dependencies (Ray Workflows' metadata, debusine's blocked → pending). Its
 * status is derived from its tasks and stored in the same transaction as each task's change. The run fields
 * (budget, on_budget, max_cost_per_result, max_price_warmup) are stored for the runs feature.
 */
export const Workflow = defineEntity({
  name: 'Workflow',
  tableName: 'workflow',
  properties: (p) => ({
    workflowId: p.string().length(200).primary(),
    status: p.enum([...WORKFLOW_STATUSES]),
    statusReason: p.text().nullable(),
    open: p.boolean().default(false),
    userMetadata: p.json<UserMetadata>(),
    priority: p.integer().default(0),
    maxRunning: p.integer().nullable(),
    budget: p.string().nullable(),
    onBudget: p.string().default('pause'),
    maxCostPerResult: p.double().nullable(),
    maxPriceWarmupS: p.integer().default(300),
    /** sha-256 of the normalised create request: the same POST again is recognised (idempotent create). */
    definitionHash: p.string().length(64),
    /** Why a budgeted run waits and when it may go on (set while paused by its budget). */
    budgetReason: p.text().nullable(),
    budgetFreesAt: p.datetime().nullable(),
    startTime: p.datetime().nullable(),
    endTime: p.datetime().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()),
  }),
});
export type Workflow = InferEntity<typeof Workflow>;
