import { defineEntity, type InferEntity } from '@mikro-orm/core';
import type { OutputData } from '../protocol/outputData';
import type { Execution, RequiredFiles, ResourceRequirements, UserMetadata } from '../protocol/taskSpec';
import { WORK_REQUEST_RESULTS, WORK_REQUEST_STATUSES, type LearnedRequirement } from '../protocol/workRequest';
import { Worker } from './Worker';

/** The spec's parts the worker needs to run the task (required files only when the spec names some). */
export interface TaskData extends RequiredFiles {
  execution: Execution;
  use_history: boolean;
}

/**
 * One attempt at running a task. The `need*` columns are the effective requirements (explicit ones, and learned
 * ones where the spec left a resource open) that the claim query compares with a worker's resources.
 */
export const WorkRequest = defineEntity({
  name: 'WorkRequest',
  tableName: 'work_request',
  properties: (p) => ({
    id: p.bigint('number').primary().autoincrement(),
    taskName: p.string(),
    subject: p.text().nullable(),
    context: p.text().nullable(),
    status: p.enum([...WORK_REQUEST_STATUSES]),
    result: p.enum([...WORK_REQUEST_RESULTS]).nullable(),
    stateReason: p.text().nullable(),
    priority: p.integer().default(0),
    priorityAdjustment: p.integer().default(0),
    // json, not jsonb: jsonb reorders object keys, and the order of `parameters` is the command line's order.
    taskData: p.json<TaskData>().columnType('json'),
    requirements: p.json<ResourceRequirements>(),
    learnedRequirements: p.json<LearnedRequirement[]>(),
    needMemory: p.bigint('number').nullable(),
    needDisk: p.bigint('number').nullable(),
    needCpu: p.integer().nullable(),
    needGpu: p.integer().nullable(),
    needTags: p.array().default([]),
    worker: p.manyToOne(Worker).nullable().deleteRule('set null'),
    attempt: p.integer().default(1),
    maxAttempts: p.integer().default(3),
    supersedesId: p.bigint('number').nullable(),
    supersededById: p.bigint('number').nullable(),
    /** The workflow this request is a task of (its workflow_id), the task's id there, and whether dependants may run when it fails. */
    workflowId: p.string().length(200).nullable(),
    taskId: p.string().length(200).nullable(),
    allowFailure: p.boolean().default(false),
    /** The name of the schedule whose firing created it (kept when the schedule is deleted). */
    schedule: p.text().nullable(),
    timeLimitS: p.integer().nullable(),
    interruptAllowed: p.boolean().default(true),
    userMetadata: p.json<UserMetadata>(),
    outputData: p.json<OutputData>().nullable(),
    /** cost_per_hour of its worker × the measured duration, set when the attempt completes. */
    cost: p.double().nullable(),
    /** What the claim reserved for this attempt in its run's budget: its key's mean duration × the worker's cost_per_hour. */
    expectedCost: p.double().nullable(),
    /** A pending task of a budget-paused run: the claim's index leaves it out until the run resumes. */
    budgetHeld: p.boolean().default(false),
    notBefore: p.datetime().nullable(),
    logBytes: p.bigint('number').default(0),
    logTruncated: p.boolean().default(false),
    /** Set while no enabled worker can meet the effective requirements: says why, in words. */
    unschedulableReason: p.text().nullable(),
    /** When it was last preempted (requeued to make room for a higher-priority request); never twice within the window. */
    preemptedAt: p.datetime().nullable(),
    /** A slot on this worker is kept for this request (it preempted a request there) until `reservedUntil`. */
    reservedWorkerId: p.bigint('number').nullable(),
    reservedUntil: p.datetime().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
    startedAt: p.datetime().nullable(),
    completedAt: p.datetime().nullable(),
  }),
});
export type WorkRequest = InferEntity<typeof WorkRequest>;
