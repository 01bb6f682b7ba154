import type { WorkRequest as WorkRequestJson } from '../../protocol/workRequest';
import type { WorkRequest } from '../../entities';
import type { StoredEstimate } from './findEstimates';

/** What serializeWorkRequest reads of a row: an entity, or a plain row of those columns (the listing's). */
export type SerializableWorkRequest = Pick<
  WorkRequest,
  | 'id' | 'taskName' | 'subject' | 'context' | 'status' | 'result' | 'stateReason' | 'unschedulableReason' | 'priority' | 'priorityAdjustment'
  | 'taskData' | 'requirements' | 'learnedRequirements' | 'attempt' | 'maxAttempts' | 'supersedesId' | 'supersededById' | 'workflowId'
  | 'taskId' | 'cost' | 'notBefore' | 'timeLimitS' | 'interruptAllowed' | 'userMetadata' | 'schedule' | 'outputData' | 'createdAt'
  | 'startedAt' | 'completedAt'
> & { worker?: { id: number; name: string } | null };

/** The last time formatted: a batch's rows share their creation time, and toISOString was a few % of a batch create. */
let lastTime = Number.NaN;
let lastText = '';

const iso = (date: Date | null | undefined): string | null => {
  if (!date) return null;
  const time = date instanceof Date ? date.getTime() : new Date(date).getTime();
  if (time !== lastTime) {
    lastText = new Date(time).toISOString();
    lastTime = time;
  }
  return lastText;
};

/**
 * The API shape of a work request (DESIGN.md "A work request as returned"). `row.worker` must be loaded, or the
 * worker's id and name given. `eta`: its stored estimate (findEstimates), where the answer shows one.
 */
export function serializeWorkRequest(
  row: SerializableWorkRequest,
  worker: { id: number; name: string } | null = row.worker ?? null,
  eta: StoredEstimate | null = null,
): WorkRequestJson {
  return {
    id: row.id,
    task_name: row.taskName,
    subject: row.subject ?? null,
    context: row.context ?? null,
    status: row.status,
    result: row.result ?? null,
    state_reason: describeState(row),
    priority: row.priority,
    priority_adjustment: row.priorityAdjustment,
    task_data: row.taskData,
    requirements: row.requirements,
    learned_requirements: row.learnedRequirements,
    worker: worker ? { id: worker.id, name: worker.name } : null,
    attempt: row.attempt,
    max_attempts: row.maxAttempts,
    supersedes: row.supersedesId ?? null,
    superseded_by: row.supersededById ?? null,
    workflow_id: row.workflowId ?? null,
    task_id: row.taskId ?? null,
    cost: row.cost === null || row.cost === undefined ? null : Number(row.cost),
    not_before: iso(row.notBefore),
    time_limit_s: row.timeLimitS ?? null,
    interrupt_allowed: row.interruptAllowed,
    user_metadata: row.userMetadata,
    schedule: row.schedule ?? null,
    output_data: row.outputData ?? null,
    created_at: iso(row.createdAt)!,
    started_at: iso(row.startedAt),
    completed_at: iso(row.completedAt),
    expected_start_at: iso(eta?.expectedStartAt),
    expected_end_at: iso(eta?.expectedEndAt),
    eta_reason: eta?.etaReason ?? null,
  };
}

/** Why the request is where it is; for a pending request nobody can run, that comes first. */
function describeState(row: Pick<WorkRequest, 'status' | 'unschedulableReason' | 'stateReason'>): string | null {
  if (row.status === 'pending' && row.unschedulableReason) {
    return row.stateReason ? `${row.unschedulableReason} (${row.stateReason})` : row.unschedulableReason;
  }
  return row.stateReason ?? null;
}
