import type { EntityManager } from '@mikro-orm/postgresql';
import type { Workflow } from '../../entities';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { rawQuery } from '../sql/rawQuery';
import {
  blockedTasksByIdStatement,
  blockedTasksStatement,
  lockBlockedDependantsStatement,
  releasePreparedStatement,
  markWaitingForSlotStatement,
  skipTasksStatement,
  slotsTakenStatement,
  waitingForSlotStatement,
  type BlockedTaskRow,
  type PreparedReleaseValues,
} from '../sql/workflowTasks';
import { CHANNELS } from '../notifications';
import { deferPendingWork, isCollectingNotifications } from '../workRequests/notifyChanges';
import { releaseTasks, type ReleaseInputs } from './releaseTasks';
import { updateWorkflowStatus } from './workflowStatus';
import { getWorkflowOrFail } from './workflowRow';
import { lockWorkflowForStatus } from './lockWorkflows';

/** What changed in a workflow: tasks whose current attempt ended, and tasks to look at (new ones). */
export interface WorkflowChange {
  finished?: string[];
  candidates?: string[];
  /** Every blocked task (admission, resume). */
  allBlocked?: boolean;
}

/** What the caller already has: the workflow's row as it locked it (unchanged since), the release's inputs. */
export interface SettlePrepared {
  locked?: Workflow;
  release?: ReleaseInputs;
}

/**
 * Inside the transaction that changed tasks of a workflow (its row locked first, see lockWorkflows): blocked
 * tasks whose dependencies are all done become pending (releaseTasks); those with a dependency that failed
 * (without allow_failure) are completed as skipped, naming it, and their dependants in turn (transitively);
 * then the workflow's status is derived and stored. Only the direct dependants of what finished are read.
 * With max_running, ready tasks beyond the free slots stay blocked, marked waiting_for_slot, and are released
 * in turn as the workflow's pending and running tasks end (every such end settles the workflow), so the claim
 * never sees more than max_running of its tasks and needs no check of its own.
 */
export async function settleWorkflow(em: EntityManager, workflowId: string, change: WorkflowChange, policy: SchedulingPolicy, prepared: SettlePrepared = {}): Promise<void> {
  const workflow = prepared.locked ?? (await getWorkflowOrFail(em, workflowId, { lock: true }));
  let finished = change.finished ?? [];
  let candidates = change.candidates ?? [];
  let allBlocked = change.allBlocked ?? false;
  // Something of it is sure to be blocked or pending now, so the status need not look: a task released or left
  // waiting for a slot stays so; a task left blocked only in the last pass (an earlier one may skip it later).
  let leftActive = false;
  let stillBlocked = false;
  while (finished.length > 0 || candidates.length > 0 || allBlocked) {
    const statement = blockedTasksStatement(workflowId, candidates, finished, allBlocked);
    const blocked = await rawQuery<BlockedTaskRow>(em, statement.text, statement.values as never[]);
    allBlocked = false;
    candidates = [];
    const { skips, ready, waiting } = classifyBlocked(blocked);
    stillBlocked = waiting;
    // Tasks of a PENDING (not yet admitted) or CANCELED workflow stay where they are.
    if (workflow.status === 'RUNNING') {
      const released = await releaseReady(em, workflow, ready, policy, prepared.release);
      skips.push(...released.skips);
      if (released.released > 0 || released.waiting) leftActive = true;
    }
    finished = [];
    if (skips.length > 0) {
      const skipped = skipTasksStatement(skips);
      finished = (await rawQuery<{ task_id: string }>(em, skipped.text, skipped.values as never[])).map((row) => row.task_id);
    }
  }
  await updateWorkflowStatus(em, workflow, policy, leftActive || stillBlocked);
}

/**
 * settleWorkflow for successes of a RUNNING workflow without max_running, budget or cost limit, in a transaction
 * that holds the workflow's row only FOR KEY SHARE (lockWorkflows): completions in one workflow then overlap
 * instead of queueing on its row. Each dependant's release is decided with its row locked (in id order) and its
 * dependencies read afterwards, so of two parents finishing at once the later sees the earlier's commit and
 * releases it exactly once. The status needs the workflow's row (FOR NO KEY UPDATE, still compatible with the
 * others' KEY SHARE) only when nothing is known to stay active: the last completions then queue for it, and each
 * sees the ones before it.
 */
export async function settleCompletedTasks(
  em: EntityManager,
  workflow: Workflow,
  finishedTasks: string[],
  policy: SchedulingPolicy,
  release?: ReleaseInputs,
  prepared?: Map<number, PreparedReleaseValues>,
): Promise<void> {
  let finished = finishedTasks;
  let leftActive = false;
  let stillBlocked = false;
  let firstPass = true;
  while (finished.length > 0) {
    stillBlocked = false;
    const lock = lockBlockedDependantsStatement(workflow.workflowId, finished);
    const ids = (await rawQuery<{ id: string }>(em, lock.text, lock.values as never[])).map((row) => Number(row.id));
    finished = [];
    if (ids.length === 0) break;
    // Statements after the locks: they see every completion committed before them. The common case (values
    // worked out before the locks) is released in the same statement that reads the rest, to hold the locks
    // for one round trip fewer.
    const values = firstPass && prepared ? ids.flatMap((id) => prepared.get(id) ?? []) : [];
    firstPass = false;
    let blocked: BlockedTaskRow[];
    if (values.length > 0) {
      const afterCommit = isCollectingNotifications();
      const statement = releasePreparedStatement(ids, values, afterCommit ? null : CHANNELS.pendingWork);
      const [row] = await rawQuery<{ released: number; blocked: BlockedTaskRow[] }>(em, statement.text, statement.values as never[]);
      if (afterCommit) deferPendingWork(row.released);
      if (row.released > 0) leftActive = true;
      blocked = row.blocked;
    } else {
      const statement = blockedTasksByIdStatement(ids);
      blocked = await rawQuery<BlockedTaskRow>(em, statement.text, statement.values as never[]);
    }
    const { skips, ready, waiting } = classifyBlocked(blocked);
    stillBlocked = waiting;
    if (ready.length > 0) {
      const released = await releaseTasks(em, workflow.workflowId, ready, policy, release);
      skips.push(...released.skips);
      if (released.released > 0) leftActive = true;
    }
    if (skips.length > 0) {
      const skipped = skipTasksStatement(skips);
      finished = (await rawQuery<{ task_id: string }>(em, skipped.text, skipped.values as never[])).map((row) => row.task_id);
    }
  }
  // A task released or left blocked here (its row locked) is still active at the commit.
  if (leftActive || stillBlocked) return;
  await updateWorkflowStatus(em, await lockWorkflowForStatus(em, workflow.workflowId), policy);
}

/**
 * Releases ready tasks (all of them, or as many as max_running leaves room for); answers those to skip instead,
 * how many became pending, and whether some were left waiting for a slot.
 */
async function releaseReady(
  em: EntityManager,
  workflow: Workflow,
  ready: BlockedTaskRow[],
  policy: SchedulingPolicy,
  inputs: ReleaseInputs | undefined,
): Promise<{ skips: Array<{ id: number; skip_reason: string }>; released: number; waiting: boolean }> {
  const maxRunning = workflow.maxRunning ?? null;
  if (maxRunning === null) {
    if (ready.length === 0) return { skips: [], released: 0, waiting: false };
    return releaseTasks(em, workflow.workflowId, ready, policy, inputs).then((done) => ({ ...done, waiting: false }));
  }
  if (ready.length > 0) {
    const mark = markWaitingForSlotStatement(ready.map((task) => Number(task.id)), `ready; waiting for a slot: max_running ${maxRunning} of its workflow are pending or running`);
    await rawQuery(em, mark.text, mark.values as never[]);
  }
  const taken = slotsTakenStatement(workflow.workflowId);
  const [{ taken: count }] = await rawQuery<{ taken: number }>(em, taken.text, taken.values as never[]);
  if (count >= maxRunning) return { skips: [], released: 0, waiting: ready.length > 0 };
  const waiting = waitingForSlotStatement(workflow.workflowId, maxRunning - count);
  const next = await rawQuery<BlockedTaskRow>(em, waiting.text, waiting.values as never[]);
  if (next.length === 0) return { skips: [], released: 0, waiting: false };
  return releaseTasks(em, workflow.workflowId, next, policy, inputs).then((done) => ({ ...done, waiting: false }));
}

const isDone = (status: string) => status === 'completed' || status === 'aborted';

function describeEnd(dependency: { status: string; result: string | null }): string {
  if (dependency.status === 'aborted') return 'was aborted';
  if (dependency.result === 'skipped') return 'was skipped';
  return `failed (${dependency.result ?? 'no result'})`;
}

/** Blocked tasks by what their dependencies say: skip (one failed, naming it), ready (all done), or still waiting. */
export function classifyBlocked(blocked: BlockedTaskRow[]): { skips: Array<{ id: number; skip_reason: string }>; ready: BlockedTaskRow[]; waiting: boolean } {
  const skips: Array<{ id: number; skip_reason: string }> = [];
  const ready: BlockedTaskRow[] = [];
  let waiting = false;
  for (const task of blocked) {
    const failed = task.dependencies.find((dependency) => isDone(dependency.status) && dependency.result !== 'success' && !dependency.allow_failure);
    if (failed) skips.push({ id: Number(task.id), skip_reason: `dependency "${failed.task_id}" ${describeEnd(failed)}` });
    else if (task.dependencies.every((dependency) => isDone(dependency.status))) ready.push(task);
    else waiting = true;
  }
  return { skips, ready, waiting };
}
