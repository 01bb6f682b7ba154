import { createHash, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Workflow } from '../../entities';
import { requiredFilesOf } from '../../protocol/taskSpec';
import type { CreateWorkflowParsed, WorkflowTask } from '../../protocol/workflow';
import { ConflictError } from '../errors';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { explicitRequirements } from '../scheduler/effectiveRequirements';
import { loadWorkerCapacities } from '../scheduler/refreshUnschedulable';
import { unschedulableReason } from '../scheduler/unschedulableReason';
import { rawQuery } from '../sql/rawQuery';
import { insertWorkflowTasksStatement, type NewWorkflowTaskValues } from '../sql/workflowTasks';
import { notifyPendingWork } from '../workRequests/notifyChanges';
import { admissionStatus } from './admission';
import { requirementColumns, requirementsLearner } from './releaseTasks';
import { planWorkflowTasks, type PlannedTask } from './planWorkflowTasks';
import { resumeLockedWorkflow } from './resumeWorkflow';
import { settleWorkflow } from './settleWorkflow';
import { updateWorkflowStatus } from './workflowStatus';
import { findWorkflow, getWorkflowOrFail } from './workflowRow';
import { transactional } from '../transactional';

/**
 * POST /workflows: checks the tasks (planWorkflowTasks: a 400 before anything is written), then in one
 * transaction the workflow row, and its tasks and edges in one statement: a task with no dependency is pending
 * at once (requirements learned now, once per history key) when the workflow runs and max_running leaves room,
 * every other one blocked. Idempotent by workflow_id: the same definition answers the existing workflow (resuming it when
 * FAILED or RESUMABLE), another definition is a 409 `workflow_exists`.
 */
export async function createWorkflow(
  em: EntityManager,
  body: CreateWorkflowParsed,
  policy: SchedulingPolicy,
): Promise<{ workflow: Workflow; created: boolean }> {
  const planned = planWorkflowTasks(body.tasks);
  return transactional(em, (tem) => createPlannedWorkflow(tem, body, planned, policy));
}

/** createWorkflow inside the caller's transaction (a schedule's firing creates its workflow so). */
export async function createWorkflowIn(tem: EntityManager, body: CreateWorkflowParsed, policy: SchedulingPolicy): Promise<{ workflow: Workflow; created: boolean }> {
  return createPlannedWorkflow(tem, body, planWorkflowTasks(body.tasks), policy);
}

async function createPlannedWorkflow(
  tem: EntityManager,
  body: CreateWorkflowParsed,
  planned: PlannedTask[],
  policy: SchedulingPolicy,
): Promise<{ workflow: Workflow; created: boolean }> {
  const workflowId = body.workflow_id ?? `${randomUUID()}.${Math.floor(Date.now() / 1000)}`;
  const { workflow_id: _id, ...definition } = body;
  const definitionHash = createHash('sha256').update(JSON.stringify(definition)).digest('hex');
  const existing = await findWorkflow(tem, workflowId, { lock: true });
  if (existing) return { workflow: await answerExisting(tem, existing, definitionHash, policy), created: false };
  const status = await admissionStatus(tem, policy);
  const inserted = await tem.execute<unknown[]>(
    `insert into workflow (workflow_id, status, status_reason, open, user_metadata, priority, max_running, budget, on_budget,
       max_cost_per_result, max_price_warmup_s, definition_hash, created_at, updated_at)
     values (?, ?, ?, ?, ?::jsonb, ?, ?, ?, ?, ?, ?, ?, date_trunc('milliseconds', now()), date_trunc('milliseconds', now()))
     on conflict (workflow_id) do nothing returning workflow_id`,
    [
      workflowId,
      status,
      status === 'PENDING' ? `waiting: ${policy.workflows.maxRunning} workflows are running (WORKSCHED_MAX_RUNNING_WORKFLOWS)` : null,
      body.open,
      JSON.stringify(body.user_metadata),
      body.priority,
      body.max_running ?? null,
      body.budget ?? null,
      body.on_budget ?? 'pause',
      body.max_cost_per_result ?? null,
      body.max_price_warmup ?? 300,
      definitionHash,
    ],
  );
  if (inserted.length === 0) {
    // Created by a concurrent request since we looked: answered like a repeated POST.
    return { workflow: await answerExisting(tem, await getWorkflowOrFail(tem, workflowId, { lock: true }), definitionHash, policy), created: false };
  }
  // Nothing of a new workflow has run: its tasks with dependencies wait, and there is nothing to settle.
  const rootSlots = status === 'RUNNING' ? (body.max_running ?? Number.POSITIVE_INFINITY) : 0;
  await insertTasks(tem, workflowId, planned, body.priority, { rootSlots, maxRunning: body.max_running ?? null }, policy);
  const workflow = await getWorkflowOrFail(tem, workflowId, { lock: true });
  await updateWorkflowStatus(tem, workflow, policy);
  return { workflow: await getWorkflowOrFail(tem, workflowId), created: true };
}

async function answerExisting(em: EntityManager, existing: Workflow, definitionHash: string, policy: SchedulingPolicy): Promise<Workflow> {
  if (existing.definitionHash !== definitionHash) {
    throw new ConflictError(`workflow ${existing.workflowId} exists with another definition`, 'workflow_exists');
  }
  if (existing.status === 'FAILED' || existing.status === 'RESUMABLE') await resumeLockedWorkflow(em, existing, policy);
  return getWorkflowOrFail(em, existing.workflowId);
}

/**
 * POST /workflows/:id/tasks: adds tasks to an open workflow, idempotent by task_id (a task_id it has already
 * is left alone); new tasks may depend on tasks it has. Reads only the task ids the request names (its tasks'
 * and their depends_on), so a refill costs O(added tasks) however large the run; answers the workflow and the
 * task ids of the request (added or already there).
 */
export async function addWorkflowTasks(
  em: EntityManager,
  workflowId: string,
  tasks: WorkflowTask[],
  policy: SchedulingPolicy,
): Promise<{ workflow: Workflow; taskIds: string[] }> {
  return transactional(em, async (tem) => {
    const workflow = await getWorkflowOrFail(tem, workflowId, { lock: true });
    if (workflow.status === 'CANCELED') throw new ConflictError(`workflow ${workflowId} was canceled`, 'workflow_canceled');
    if (!workflow.open) throw new ConflictError(`workflow ${workflowId} is closed: it takes no more tasks (create it with "open": true)`, 'workflow_closed');
    const existing = await existingTaskIds(tem, workflowId, tasks);
    const fresh = tasks.filter((task) => task.task_id === undefined || !existing.has(task.task_id));
    const planned = planWorkflowTasks(fresh, existing, 'workflow tasks');
    const taskIds = [...new Set([...tasks.flatMap((task) => (task.task_id === undefined ? [] : [task.task_id])), ...planned.map((task) => task.taskId)])];
    if (planned.length === 0) return { workflow, taskIds };
    await insertTasks(tem, workflowId, planned, workflow.priority, { rootSlots: 0, maxRunning: null }, policy);
    await settleWorkflow(tem, workflowId, { candidates: planned.map((task) => task.taskId) }, policy);
    return { workflow: await getWorkflowOrFail(tem, workflowId), taskIds };
  });
}

/**
 * The task ids of the workflow among those the request names (a lookup each in the current-attempt index); a
 * task without task_id also needs the ids its name may be derived to (`name`, `name_1`, …): a prefix match,
 * which reads the workflow's ids, so only such requests pay for it.
 */
async function existingTaskIds(em: EntityManager, workflowId: string, tasks: WorkflowTask[]): Promise<Set<string>> {
  const named = [...new Set(tasks.flatMap((task) => [...(task.task_id === undefined ? [] : [task.task_id]), ...task.depends_on]))];
  const found = new Set<string>();
  const current = `select task_id from work_request where workflow_id = ? and task_id is not null and superseded_by_id is null`;
  for (const row of await rawQuery<{ task_id: string }>(em, `${current} and task_id = any(?::text[])`, [workflowId, named])) found.add(row.task_id);
  const derived = [...new Set(tasks.filter((task) => task.task_id === undefined).map((task) => task.task_name))];
  if (derived.length > 0) {
    const literal = (name: string) => name.replace(/[\\%_]/g, (char) => `\\${char}`);
    const patterns = derived.flatMap((name) => [literal(name), `${literal(name)}\\_%`]);
    for (const row of await rawQuery<{ task_id: string }>(em, `${current} and task_id like any(?::text[])`, [workflowId, patterns])) found.add(row.task_id);
  }
  return found;
}

/**
 * Inserts new tasks and their edges (one statement). The first `rootSlots` tasks without dependencies, by task
 * priority then order, go straight to pending; the other ones without dependencies wait for a slot (max_running)
 * or for the workflow to be admitted; tasks with dependencies are blocked.
 */
async function insertTasks(
  em: EntityManager,
  workflowId: string,
  planned: PlannedTask[],
  workflowPriority: number,
  release: { rootSlots: number; maxRunning: number | null },
  policy: SchedulingPolicy,
): Promise<void> {
  const roots = planned.filter((task) => task.dependsOn.length === 0);
  const pendingRoots = new Set(
    release.rootSlots >= roots.length ? roots : [...roots].sort((a, b) => b.spec.priority - a.spec.priority || a.index - b.index).slice(0, release.rootSlots),
  );
  const learn = requirementsLearner(em, policy);
  const workers = pendingRoots.size > 0 ? await loadWorkerCapacities(em) : [];
  const rows: NewWorkflowTaskValues[] = [];
  for (const task of planned) {
    const { taskId, spec, dependsOn } = task;
    const pending = pendingRoots.has(task);
    const effective = pending
      ? await learn(spec.task_name, spec.subject, spec.context, spec.resources, spec.use_history)
      : { learned: [], ...explicitRequirements(spec.resources) };
    let stateReason: string | null = null;
    if (dependsOn.length > 0) stateReason = `waiting for ${dependsOn.length === 1 ? `"${dependsOn[0]}"` : `${dependsOn.length} dependencies`}`;
    else if (!pending && release.maxRunning !== null && release.rootSlots > 0) stateReason = `ready; waiting for a slot: max_running ${release.maxRunning} of its workflow are pending or running`;
    else if (!pending) stateReason = 'waiting for the workflow to start';
    rows.push({
      task_id: taskId,
      task_name: spec.task_name,
      subject: spec.subject ?? null,
      context: spec.context ?? null,
      status: pending ? 'pending' : 'blocked',
      // The workflow's priority lifts (or lowers) all its tasks; a task's own is relative to it.
      priority: workflowPriority + spec.priority,
      task_data: { execution: spec.execution, use_history: spec.use_history, ...requiredFilesOf(spec) },
      requirements: spec.resources,
      ...requirementColumns(effective),
      unschedulable_reason: pending ? unschedulableReason(effective, workers) : null,
      max_attempts: spec.max_attempts,
      time_limit_s: spec.time_limit ?? null,
      interrupt_allowed: spec.interrupt_allowed,
      user_metadata: spec.user_metadata,
      allow_failure: spec.allow_failure,
      state_reason: stateReason,
      // Admission (allBlocked) marks a PENDING workflow's roots itself.
      waiting_for_slot: !pending && dependsOn.length === 0 && release.maxRunning !== null && release.rootSlots > 0,
    });
  }
  const edges = planned.flatMap(({ taskId, dependsOn }) => dependsOn.map((dependency) => ({ task_id: taskId, depends_on: dependency })));
  const statement = insertWorkflowTasksStatement(workflowId, rows, edges);
  await rawQuery(em, statement.text, statement.values as never[]);
  if (pendingRoots.size > 0) await notifyPendingWork(em, pendingRoots.size);
}
