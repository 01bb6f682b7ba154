import type { EntityManager } from '@mikro-orm/postgresql';
import { parameterFromOf } from '../../protocol/taskSpec';
import type { ResourceRequirements } from '../../protocol/taskSpec';
import { historyKeyOf } from '../history/historyKey';
import { learnRequirements, type HistoryQuery, type LearnedRequirements } from '../history/learnRequirements';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { explicitRequirements } from '../scheduler/effectiveRequirements';
import { loadWorkerCapacities } from '../scheduler/refreshUnschedulable';
import { unschedulableReason, type WorkerCapacity } from '../scheduler/unschedulableReason';
import { rawQuery } from '../sql/rawQuery';
import { releaseTasksStatement, taskResultsStatement, type BlockedTaskRow, type PreparedReleaseValues, type ReleasedTaskValues } from '../sql/workflowTasks';
import { CHANNELS } from '../notifications';
import { deferPendingWork, isCollectingNotifications } from '../workRequests/notifyChanges';

/**
 * Ready tasks (every dependency done) become pending, now rather than at creation: requirements are learned
 * from the history as it is at this moment (it may have grown since the workflow was created), and `from`
 * parameters are filled in from the dependencies' results. A `from` whose path is missing cannot run: it is
 * returned to be skipped. Costs one statement for the results (when any task takes one), a few per distinct
 * history key, and one update for all (that also wakes claimers).
 */
export async function releaseTasks(
  em: EntityManager,
  workflowId: string,
  ready: BlockedTaskRow[],
  policy: SchedulingPolicy,
  inputs?: ReleaseInputs,
): Promise<{ released: number; skips: Array<{ id: number; task_id: string; skip_reason: string }> }> {
  const results = await dependencyResults(em, workflowId, ready);
  const workers = inputs?.workers ?? (await loadWorkerCapacities(em));
  const learn = inputs?.learn ?? requirementsLearner(em, policy);
  const rows: ReleasedTaskValues[] = [];
  const skips: Array<{ id: number; task_id: string; skip_reason: string }> = [];
  for (const task of ready) {
    const filled = fillParameters(task.task_data.execution.parameters, results);
    if (typeof filled === 'string') {
      skips.push({ id: Number(task.id), task_id: task.task_id, skip_reason: filled });
      continue;
    }
    const effective = await learn(task.task_name, task.subject, task.context, task.requirements, task.task_data.use_history);
    rows.push({
      id: Number(task.id),
      task_data: filled === task.task_data.execution.parameters ? task.task_data : { ...task.task_data, execution: { ...task.task_data.execution, parameters: filled } },
      ...requirementColumns(effective),
      unschedulable_reason: unschedulableReason(effective, workers),
    });
  }
  if (rows.length === 0) return { released: 0, skips };
  // Within withNotificationsAfterCommit the wake-up goes after the commit; otherwise with the release itself.
  const afterCommit = isCollectingNotifications();
  const statement = releaseTasksStatement(rows, afterCommit ? null : CHANNELS.pendingWork);
  const released = await rawQuery<unknown>(em, statement.text, statement.values as never[]);
  if (afterCommit) deferPendingWork(released.length);
  return { released: released.length, skips };
}

/**
 * What releasing reads besides the tasks themselves — the enabled workers and what history says of the tasks
 * about to be released — read before the workflow's lock is taken, so that the lock is held for fewer and
 * lighter statements (every completion in a workflow waits for it). History committed by then counts; a task
 * not foreseen here is learned at its release as before.
 */
export interface ReleaseInputs {
  workers: WorkerCapacity[];
  learn: RequirementsLearner;
}

export async function prepareReleaseInputs(
  em: EntityManager,
  tasks: Array<{ task_name: string; subject: string | null; context: string | null; requirements: ResourceRequirements; use_history: boolean }>,
  policy: SchedulingPolicy,
): Promise<ReleaseInputs> {
  const learn = requirementsLearner(em, policy);
  for (const task of tasks) await learn(task.task_name, task.subject, task.context, task.requirements, task.use_history);
  return { workers: await loadWorkerCapacities(em), learn };
}

/**
 * Before the locks, for tasks that may become ready (blocked dependants read unlocked): the requirement columns
 * their release would set, from what `inputs` learned, by task id. Only tasks without `from` parameters: theirs
 * are filled in at the release itself (releaseTasks).
 */
export async function prepareReleasedValues(
  tasks: Array<{ id: number; task_name: string; subject: string | null; context: string | null; requirements: ResourceRequirements; use_history: boolean; parameters: Record<string, unknown> }>,
  inputs: ReleaseInputs,
): Promise<Map<number, PreparedReleaseValues>> {
  const prepared = new Map<number, PreparedReleaseValues>();
  for (const task of tasks) {
    if (prepared.has(task.id) || Object.values(task.parameters).some((value) => parameterFromOf(value))) continue;
    const effective = await inputs.learn(task.task_name, task.subject, task.context, task.requirements, task.use_history);
    prepared.set(task.id, { id: task.id, ...requirementColumns(effective), unschedulable_reason: unschedulableReason(effective, inputs.workers) });
  }
  return prepared;
}

/** A task row's requirement columns, from its effective requirements. */
export function requirementColumns(effective: LearnedRequirements) {
  return {
    learned_requirements: effective.learned,
    need_memory: effective.needMemory,
    need_disk: effective.needDisk,
    need_cpu: effective.needCpu,
    need_gpu: effective.needGpu,
    need_tags: effective.needTags,
  };
}

/**
 * The effective requirements of tasks about to become pending, learned from the history as it is now: once per
 * distinct (history key, resources, use_history), however many tasks share it.
 */
export function requirementsLearner(em: EntityManager | HistoryQuery, policy: SchedulingPolicy) {
  const learned = new Map<string, Promise<LearnedRequirements>>();
  return (taskName: string, subject: string | null | undefined, context: string | null | undefined, requirements: ResourceRequirements, useHistory: boolean): Promise<LearnedRequirements> => {
    const key = historyKeyOf({ taskName, subject, context });
    const cacheKey = JSON.stringify([key, requirements, useHistory]);
    let effective = learned.get(cacheKey);
    if (!effective) {
      effective = useHistory === false
        ? Promise.resolve({ learned: [], ...explicitRequirements(requirements) })
        : learnRequirements(em, key, requirements, { headroom: policy.headroom, sampleRuns: policy.sampleRuns });
      learned.set(cacheKey, effective);
    }
    return effective;
  };
}

export type RequirementsLearner = ReturnType<typeof requirementsLearner>;

type Results = Map<string, { succeeded: boolean; value: unknown }>;

async function dependencyResults(em: EntityManager, workflowId: string, tasks: BlockedTaskRow[]): Promise<Results> {
  const wanted = new Set<string>();
  for (const task of tasks) {
    for (const value of Object.values(task.task_data.execution.parameters)) {
      const from = parameterFromOf(value);
      if (from) wanted.add(from.from);
    }
  }
  const results: Results = new Map();
  if (wanted.size === 0) return results;
  const statement = taskResultsStatement(workflowId, [...wanted]);
  const rows = await rawQuery<{ task_id: string; result: string | null; value: unknown }>(em, statement.text, statement.values as never[]);
  for (const row of rows) results.set(row.task_id, { succeeded: row.result === 'success', value: row.value });
  return results;
}

/**
 * The parameters with each `from` replaced by the value at its path in that dependency's result (objects and
 * arrays as JSON text), the same object when there is none, or why one cannot be filled in.
 */
export function fillParameters(parameters: Record<string, unknown>, results: Results): Record<string, unknown> | string {
  let filled: Record<string, unknown> | null = null;
  for (const [name, value] of Object.entries(parameters)) {
    const from = parameterFromOf(value);
    if (!from) continue;
    const source = results.get(from.from);
    const where = `parameter "${name}" takes ${from.path ? `"${from.path}" of ` : ''}the result of "${from.from}"`;
    if (!source?.succeeded) return `${where}, which did not succeed`;
    const found = valueAtPath(source.value, from.path);
    if (found === undefined || found === null) return `${where}, which has no such value`;
    filled ??= { ...parameters };
    filled[name] = typeof found === 'object' ? JSON.stringify(found) : found;
  }
  return filled ?? parameters;
}

/** "a.b.0.c": object keys and array indexes; no path is the whole value. */
export function valueAtPath(value: unknown, path: string | undefined): unknown {
  if (!path) return value;
  let at: unknown = value;
  for (const part of path.split('.')) {
    if (Array.isArray(at) && /^\d+$/.test(part)) at = at[Number(part)];
    else if (at !== null && typeof at === 'object' && !Array.isArray(at) && Object.prototype.hasOwnProperty.call(at, part)) at = (at as Record<string, unknown>)[part];
    else return undefined;
  }
  return at;
}
