import type { EntityManager } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import type { OutputData } from '../../protocol/outputData';
import type { CompletionAnswer } from '../../protocol/workerApi';
import type { WorkRequestResult } from '../../protocol/workRequest';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import type { EndedAttempt } from '../metrics';
import { HttpError } from '../errors';
import { completeBatchWithoutDecisionStatement, type QuickReport } from '../sql/completeBatchWithoutDecision';
import type { ResourceRequirements } from '../../protocol/taskSpec';
import { dependantsOfRequestsStatement, type DependantToLearnRow } from '../sql/workflowTasks';
import { rawQuery } from '../sql/rawQuery';
import { lockWorkflows } from '../workflows/lockWorkflows';
import { prepareReleaseInputs, prepareReleasedValues } from '../workflows/releaseTasks';
import { transactional } from '../transactional';
import { lockWorkRequestsInOrder } from './lockWorkRequest';
import { settleCompletedTasks, settleWorkflow } from '../workflows/settleWorkflow';
import { completeWithDecision, describeCompletion } from './completeWorkRequest';
import { endedAttemptOf } from './endedAttempt';
import { isCollectingNotifications, notifyWorkRequestsActivity } from './notifyChanges';
import { completeRunningBatch, type CompletedRow } from './completeRunningBatch';
import { completeWorkflowBatch } from './completeWorkflowBatch';
import { anyKnownWorkflowTask } from './claimedWorkflowTasks';
import { bookRunCosts } from '../runs/bookRunCosts';
import { checkRunBudgets } from '../runs/runBudgets';

export interface CompletionReport {
  id: number;
  result: WorkRequestResult;
  output_data: OutputData;
}

/**
 * A worker's batch of reports, in one transaction: successes and skips of requests running on this worker in
 * one set-based statement; everything else (failures, which need a retry decision, and reports the statement
 * did not take: repeats, another worker's, unknown ids) through the per-request path, each in a savepoint, so
 * one item's 404 or 409 changes nothing else. Each item is answered like the per-request route would answer
 * it; an id given twice is applied once (its first report) and both get that answer. The requests these
 * reports ended are added to `ended` once the transaction has committed (for the metrics). Workflow tasks among
 * them release or skip their dependants and update their workflow's status in the same transaction.
 * The common batch (successes and skips of plain requests running on this worker) takes completeRunningBatch
 * first, without the ORM, when its wake-ups go after the commit (withNotificationsAfterCommit); a batch of
 * workflow tasks' successes takes completeWorkflowBatch so (the shared-lock path below, in fewer statements).
 */
export async function completeWorkRequests(
  em: EntityManager,
  pool: Pool,
  workerId: number,
  reports: CompletionReport[],
  policy: SchedulingPolicy,
  ended?: EndedAttempt[],
): Promise<CompletionAnswer[]> {
  const firstReports = new Map<number, CompletionReport>();
  for (const report of reports) if (!firstReports.has(report.id)) firstReports.set(report.id, report);
  const quick = [...firstReports.values()].filter((report) => report.result === 'success' || report.result === 'skipped').map(quickReportOf);
  if (quick.length > 0 && quick.length === firstReports.size && isCollectingNotifications()) {
    // Plain requests first unless some are known workflow tasks; then the workflow tasks' own quick path.
    const workflowTasks = anyKnownWorkflowTask(pool, [...firstReports.keys()]);
    const done = (workflowTasks ? null : await completeRunningBatch(pool, workerId, quick))
      ?? (quick.every((report) => report.result === 'success') ? await completeWorkflowBatch(pool, workerId, quick, policy) : null);
    if (done) {
      ended?.push(...done.map((row) => endedAttemptOfRow(row, firstReports.get(Number(row.id))!)));
      await notifyWorkRequestsActivity(em, done.map((row) => Number(row.id)));
      return reports.map((report) => ({ id: report.id, status: 200 }));
    }
  }
  const answers = new Map<number, CompletionAnswer>();
  const endedHere: EndedAttempt[] = [];
  let budgetedRuns: string[] = [];
  // Shared workflow locks (settleCompletedTasks) unless a first try found them unfit.
  let shareable = true;
  const work = async (tem: EntityManager) => {
    // A run again after a deadlock starts afresh.
    answers.clear();
    endedHere.length = 0;
    // Before any lock (every completion in a workflow waits for its lock): the workflows of these requests,
    // and what releasing their tasks' dependants will read of history and workers.
    const lookup = dependantsOfRequestsStatement([...firstReports.keys()]);
    const found = await rawQuery<DependantToLearnRow>(tem, lookup.text, lookup.values as never[]);
    const dependants = found.filter((row): row is DependantToLearnRow & { task_name: string; requirements: ResourceRequirements } => row.task_name !== null);
    // Shared only when every workflow of the batch is fit for it and only successes of it are reported (one
    // lock mode per statement keeps the key order); checked again under the lock.
    const workflowOf = new Map(found.map((row) => [Number(row.request_id), row.workflow_id]));
    const shared = shareable && found.length > 0 && found.every((row) => row.concurrent && firstReports.get(Number(row.request_id))?.result === 'success');
    const release = dependants.length > 0 ? await prepareReleaseInputs(tem, dependants.map((row) => ({ ...row, use_history: row.use_history !== false })), policy) : undefined;
    const prepared = release && shared
      ? await prepareReleasedValues(dependants.map((row) => ({ ...row, id: Number(row.dependant_id), use_history: row.use_history !== false, parameters: row.parameters ?? {} })), release)
      : undefined;
    // Lock order: the workflows of these requests before any of their rows (see lockWorkflows), then the rows
    // in id order, before either path below touches them (they would lock in report and plan order).
    const locked = await lockWorkflows(tem, [...new Set(found.map((row) => row.workflow_id))], { shared });
    if (shared && locked.some((workflow) => workflow.status !== 'RUNNING' || workflow.maxRunning != null || workflow.budget != null || workflow.maxCostPerResult != null)) {
      throw new ExclusiveLockNeeded();
    }
    // Only budgeted runs have a budget to check (it is set at creation): the others save its transaction.
    budgetedRuns = locked.filter((workflow) => workflow.budget !== null && workflow.budget !== undefined).map((workflow) => workflow.workflowId);
    await lockWorkRequestsInOrder(tem, [...firstReports.keys()]);
    const finished = new Map<string, string[]>();
    if (quick.length > 0) {
      const statement = completeBatchWithoutDecisionStatement(workerId, quick);
      const done = await tem.execute<CompletedRow[]>(statement.text, statement.values);
      for (const row of done) {
        const id = Number(row.id);
        answers.set(id, { id, status: 200 });
        if (row.workflow_id && row.task_id) finished.set(row.workflow_id, [...(finished.get(row.workflow_id) ?? []), row.task_id]);
        endedHere.push(endedAttemptOfRow(row, firstReports.get(id)!));
      }
      await notifyWorkRequestsActivity(tem, done.map((row) => Number(row.id)));
      await bookRunCosts(tem, done.filter((row) => row.workflow_id !== null).map((row) => Number(row.id)));
    }
    // The per-request path settles its workflow itself: the rows locked above may be out of date after it.
    let lockedRowsCurrent = true;
    for (const report of firstReports.values()) {
      if (answers.has(report.id)) continue;
      // The per-request path settles with the exclusive lock: never taken while holding the shared one.
      if (shared && workflowOf.has(report.id)) throw new ExclusiveLockNeeded();
      lockedRowsCurrent = false;
      try {
        await completeWithDecision(tem, report.id, workerId, report, policy, endedHere);
        answers.set(report.id, { id: report.id, status: 200 });
      } catch (error) {
        if (!(error instanceof HttpError) || (error.status !== 404 && error.status !== 409)) throw error;
        answers.set(report.id, { id: report.id, status: error.status === 404 ? 404 : 409, error: { code: error.code, message: error.message } });
      }
    }
    // Dependants released or skipped and each workflow's status stored, in this same transaction.
    for (const workflow of locked) {
      const tasks = finished.get(workflow.workflowId);
      if (!tasks) continue;
      if (shared) await settleCompletedTasks(tem, workflow, tasks, policy, release, prepared);
      else await settleWorkflow(tem, workflow.workflowId, { finished: tasks }, policy, { locked: lockedRowsCurrent ? workflow : undefined, release });
    }
  };
  try {
    await transactional(em, work);
  } catch (error) {
    if (!(error instanceof ExclusiveLockNeeded)) throw error;
    shareable = false;
    await transactional(em, work);
  }
  ended?.push(...endedHere);
  await checkRunBudgets(em, budgetedRuns, policy);
  return reports.map((report) => answers.get(report.id) as CompletionAnswer);
}

/**
 * A claim's carried reports as its own transaction may complete them first (claimWorkRequests' `completeFirst`),
 * or null when they need completeWorkRequests: anything but successes and skips, an id given twice, a task of a
 * workflow this process knows. That transaction still refuses the rest (another worker's, not running, unknown,
 * a workflow task claimed elsewhere).
 */
export function reportsToCarry(pool: Pool, reports: CompletionReport[]): QuickReport[] | null {
  if (reports.length === 0 || !reports.every((report) => report.result === 'success' || report.result === 'skipped')) return null;
  const ids = reports.map((report) => report.id);
  if (new Set(ids).size !== ids.length || anyKnownWorkflowTask(pool, ids)) return null;
  return reports.map(quickReportOf);
}

/** Thrown (rolling back) when a batch that took its workflows' shared lock finds it needs the exclusive one. */
class ExclusiveLockNeeded extends Error {}

/** A success or skip as the batch statement takes it. */
function quickReportOf(report: CompletionReport): QuickReport {
  return { id: report.id, result: report.result as QuickReport['result'], output_data: report.output_data, stateReason: describeCompletion(report) };
}

/** What the metrics count of a request the batch statement completed. */
export function endedAttemptOfRow(row: CompletedRow, report: CompletionReport): EndedAttempt {
  const times = { createdAt: new Date(row.created_at), startedAt: row.started_at === null ? null : new Date(row.started_at), completedAt: new Date(row.completed_at) };
  return endedAttemptOf({ taskName: row.task_name, result: report.result, ...times }, report.output_data);
}
