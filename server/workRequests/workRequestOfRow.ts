import type { WorkRequest } from '../../entities';

/** A work_request row as the pg driver answers it (`select *` or `returning w.*`): bigints as text, json parsed. */
export type WorkRequestRow = Record<string, unknown>;

const bigintOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));

/**
 * The row in the entity's shape, without the ORM (what serializeWorkRequest and the metrics read): hydrating it
 * through em.map cost more CPU than the completion statement itself. The worker is a reference by id only.
 */
export function workRequestOfRow(row: WorkRequestRow): WorkRequest {
  const workerId = bigintOrNull(row.worker_id);
  return {
    id: Number(row.id),
    taskName: row.task_name,
    subject: row.subject,
    context: row.context,
    status: row.status,
    result: row.result,
    stateReason: row.state_reason,
    priority: row.priority,
    priorityAdjustment: row.priority_adjustment,
    taskData: row.task_data,
    requirements: row.requirements,
    learnedRequirements: row.learned_requirements,
    needMemory: bigintOrNull(row.need_memory),
    needDisk: bigintOrNull(row.need_disk),
    needCpu: row.need_cpu,
    needGpu: row.need_gpu,
    needTags: row.need_tags,
    worker: workerId === null ? null : { id: workerId },
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    supersedesId: bigintOrNull(row.supersedes_id),
    supersededById: bigintOrNull(row.superseded_by_id),
    workflowId: row.workflow_id,
    taskId: row.task_id,
    allowFailure: row.allow_failure,
    schedule: row.schedule,
    timeLimitS: row.time_limit_s,
    interruptAllowed: row.interrupt_allowed,
    userMetadata: row.user_metadata,
    outputData: row.output_data,
    cost: row.cost,
    expectedCost: row.expected_cost,
    budgetHeld: row.budget_held,
    notBefore: row.not_before,
    logBytes: Number(row.log_bytes),
    logTruncated: row.log_truncated,
    unschedulableReason: row.unschedulable_reason,
    preemptedAt: row.preempted_at,
    reservedWorkerId: bigintOrNull(row.reserved_worker_id),
    reservedUntil: row.reserved_until,
    createdAt: row.created_at,
    startedAt: row.started_at,
    completedAt: row.completed_at,
  } as WorkRequest;
}
