import type { EntityManager } from '@mikro-orm/postgresql';
import { WorkRequest } from '../../entities';
import { formatBytes } from '../../protocol/units';
import type { LearnedRequirement } from '../../protocol/workRequest';
import { newWorkRequestRow } from '../workRequests/newWorkRequest';
import { notifyPendingWork } from '../workRequests/notifyChanges';
import { loadWorkerCapacities } from '../scheduler/refreshUnschedulable';
import { unschedulableReason } from '../scheduler/unschedulableReason';
import type { FailureDecision } from './decideAfterFailure';
import { historyKeyOf } from './historyKey';
import { learnRequirements } from './learnRequirements';

/**
 * A retry is a new work request that supersedes the failed one (both stay visible): same spec, attempt + 1,
 * pending after the back-off, requirements learned afresh and, after a memory or time kill, raised.
 */
export async function createRetryAttempt(
  em: EntityManager,
  failed: WorkRequest,
  decision: Extract<FailureDecision, { kind: 'retry' }>,
  /** `maxAttempts`: a retry asked for by hand may go past the spec's max_attempts (then it is the last). */
  options: { headroom: number; sampleRuns: number; maxAttempts?: number },
): Promise<WorkRequest> {
  const maxAttempts = Math.max(failed.maxAttempts, options.maxAttempts ?? failed.maxAttempts);
  const effective = await learnRequirements(em, historyKeyOf(failed), failed.requirements, options);
  // Like the time limit, memory never drops below what the superseded attempt had: a requirement raised after
  // an out_of_memory kill must survive a later attempt failing for another reason.
  const carried = !decision.memory && (failed.needMemory ?? 0) > (effective.needMemory ?? 0);
  const replaceMemory = Boolean(decision.memory) || carried;
  const learned: LearnedRequirement[] = effective.learned.filter((item) => !(replaceMemory && item.resource === 'memory'));
  let needMemory = effective.needMemory;
  if (decision.memory) {
    needMemory = decision.memory;
    learned.unshift({ resource: 'memory', value: decision.memory, reason: `memory ≥ ${formatBytes(decision.memory)}: doubled after attempt ${failed.attempt} was killed for out_of_memory (#${failed.id})` });
  } else if (carried) {
    needMemory = failed.needMemory ?? null;
    const previous = failed.learnedRequirements.find((item) => item.resource === 'memory');
    if (previous) learned.unshift(previous);
  }
  const needs = { ...effective, needMemory };
  const notBefore = new Date(Date.now() + decision.delayS * 1000);
  const retry = em.create(
    WorkRequest,
    newWorkRequestRow({
      taskName: failed.taskName,
      subject: failed.subject ?? null,
      context: failed.context ?? null,
      taskData: failed.taskData,
      requirements: failed.requirements,
      effective: needs,
      learned,
      unschedulableReason: unschedulableReason(needs, await loadWorkerCapacities(em)),
      stateReason: `retry of #${failed.id} (attempt ${failed.attempt + 1} of ${maxAttempts}), not before ${notBefore.toISOString()}: ${decision.reason}`,
      priority: failed.priority,
      priorityAdjustment: failed.priorityAdjustment,
      attempt: failed.attempt + 1,
      maxAttempts,
      timeLimitS: decision.timeLimitS ?? failed.timeLimitS ?? null,
      interruptAllowed: failed.interruptAllowed,
      userMetadata: failed.userMetadata,
      supersedesId: failed.id,
      workflowId: failed.workflowId ?? null,
      schedule: failed.schedule ?? null,
      taskId: failed.taskId ?? null,
      allowFailure: failed.allowFailure,
      notBefore,
    }),
  );
  await em.flush();
  failed.supersededById = retry.id;
  await em.flush();
  await notifyPendingWork(em, 1);
  return retry;
}
