import type { EntityManager } from '@mikro-orm/postgresql';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { blockedTasksStatement, skipTasksStatement, type BlockedTaskRow } from '../sql/workflowTasks';
import { releaseTasks } from './releaseTasks';
import { updateWorkflowStatus } from './workflowStatus';
import { getWorkflowOrFail } from './workflowRow';

/** What changed in a workflow: tasks whose current attempt ended, and tasks to look at (new ones). */
export interface WorkflowChange {
  finished?: string[];
  candidates?: string[];
  /** Every blocked task (admission, resume). */
  allBlocked?: boolean;
}

/**
 * Inside the transaction that changed tasks of a workflow (its row locked first, see lockWorkflows): blocked
 * tasks whose dependencies are all done become pending (releaseTasks); those with a dependency that failed
 * (without allow_failure) are completed as skipped, naming it, and their dependants in turn (transitively);
 * then the workflow's status is derived and stored. Only the direct dependants of what finished are read.
 */
export async function settleWorkflow(em: EntityManager, workflowId: string, change: WorkflowChange, policy: SchedulingPolicy): Promise<void> {
  const workflow = await getWorkflowOrFail(em, workflowId, { lock: true });
  let finished = change.finished ?? [];
  let candidates = change.candidates ?? [];
  let allBlocked = change.allBlocked ?? false;
  while (finished.length > 0 || candidates.length > 0 || allBlocked) {
    const statement = blockedTasksStatement(workflowId, candidates, finished, allBlocked);
    const blocked = await em.execute<BlockedTaskRow[]>(statement.text, statement.values);
    allBlocked = false;
    candidates = [];
    const skips: Array<{ id: number; skip_reason: string }> = [];
    const ready: BlockedTaskRow[] = [];
    for (const task of blocked) {
      const failed = task.dependencies.find((dependency) => isDone(dependency.status) && dependency.result !== 'success' && !dependency.allow_failure);
      if (failed) skips.push({ id: Number(task.id), skip_reason: `dependency "${failed.task_id}" ${describeEnd(failed)}` });
      else if (task.dependencies.every((dependency) => isDone(dependency.status))) ready.push(task);
    }
    // Tasks of a PENDING (not yet admitted) or CANCELED workflow stay where they are.
    if (ready.length > 0 && workflow.status === 'RUNNING') {
      const { skips: unfilled } = await releaseTasks(em, workflowId, ready, policy);
      skips.push(...unfilled);
    }
    finished = [];
    if (skips.length > 0) {
      const skipped = skipTasksStatement(skips);
      finished = (await em.execute<Array<{ task_id: string }>>(skipped.text, skipped.values)).map((row) => row.task_id);
    }
  }
  await updateWorkflowStatus(em, workflow, policy);
}

const isDone = (status: string) => status === 'completed' || status === 'aborted';

function describeEnd(dependency: { status: string; result: string | null }): string {
  if (dependency.status === 'aborted') return 'was aborted';
  if (dependency.result === 'skipped') return 'was skipped';
  return `failed (${dependency.result ?? 'no result'})`;
}
