import type { EntityManager } from '@mikro-orm/postgresql';
import { Workflow, WorkRequest } from '../../entities';
import { requiredFilesOf } from '../../protocol/taskSpec';
import { WORK_REQUEST_STATUSES, type WorkRequestResult, type WorkRequestStatus } from '../../protocol/workRequest';
import type { ListWorkflowsQuery, TaskCounts, TaskMetadata, Workflow as WorkflowJson, WorkflowEta, WorkflowOutput, WorkflowWithTasks } from '../../protocol/workflow';
import { InvalidCursorError, NotFoundError } from '../errors';
import { serializeWorkRequest } from '../workRequests/serializeWorkRequest';
import { rawQuery } from '../sql/rawQuery';
import { joinStoredEstimate } from '../sql/estimateChunks';
import { getWorkflowOrFail } from './workflowRow';
import { runCosts, type RunCosts } from '../runs/queryRuns';

const iso = (date: Date | null | undefined): string | undefined => (date ? new Date(date).toISOString() : undefined);

const stats = (start: Date | null | undefined, end: Date | null | undefined) => ({
  ...(start ? { start_time: iso(start) } : {}),
  ...(end ? { end_time: iso(end) } : {}),
});

export function serializeWorkflow(row: Workflow, counts: TaskCounts, costs: RunCosts): WorkflowJson {
  return {
    workflow_id: row.workflowId,
    status: row.status,
    status_reason: row.statusReason ?? null,
    open: row.open,
    user_metadata: row.userMetadata,
    priority: row.priority,
    max_running: row.maxRunning ?? null,
    budget: row.budget ?? null,
    on_budget: row.onBudget === 'stop' ? 'stop' : 'pause',
    max_cost_per_result: row.maxCostPerResult === null || row.maxCostPerResult === undefined ? null : Number(row.maxCostPerResult),
    max_price_warmup: row.maxPriceWarmupS,
    cost: costs.cost,
    budget_spent: costs.budgetSpent,
    budget_reason: row.budgetReason ?? null,
    stats: stats(row.startTime, row.endTime),
    task_counts: counts,
    created_at: iso(row.createdAt) as string,
    updated_at: iso(row.updatedAt) as string,
  };
}

const emptyCounts = (): TaskCounts => ({ total: 0, ...Object.fromEntries(WORK_REQUEST_STATUSES.map((status) => [status, 0])) }) as TaskCounts;

/** Each workflow's current attempts by status. */
export async function taskCounts(em: EntityManager, workflowIds: string[]): Promise<Map<string, TaskCounts>> {
  const counts = new Map(workflowIds.map((id) => [id, emptyCounts()]));
  if (workflowIds.length === 0) return counts;
  const rows = await em.execute<Array<{ workflow_id: string; status: WorkRequestStatus; count: string }>>(
    `select workflow_id, status, count(*) as count from work_request
     where workflow_id in (?) and superseded_by_id is null group by workflow_id, status`,
    [workflowIds],
  );
  for (const row of rows) {
    const entry = counts.get(row.workflow_id) as TaskCounts;
    entry[row.status] = Number(row.count);
    entry.total += Number(row.count);
  }
  return counts;
}

export async function getWorkflow(em: EntityManager, workflowId: string, row?: Workflow): Promise<WorkflowJson> {
  const workflow = row ?? (await getWorkflowOrFail(em, workflowId));
  const counts = await taskCounts(em, [workflow.workflowId]);
  const costs = await runCosts(em, [workflow.workflowId]);
  return serializeWorkflow(workflow, counts.get(workflow.workflowId) as TaskCounts, costs.get(workflow.workflowId) as RunCosts);
}

/**
 * A workflow's expected end (issue 13): the latest `expected_end_at` the estimates pass stored for its unfinished
 * tasks' current attempts, with that task's `eta_reason`; null when none has one (then the reason of one that
 * has none, if any, says why).
 */
export async function workflowEta(em: EntityManager, workflowId: string): Promise<WorkflowEta> {
  return (await workflowEtas(em, [workflowId])).get(workflowId)!;
}

/** workflowEta for a page of workflows, in one statement; every id asked is in the map. */
export async function workflowEtas(em: EntityManager, workflowIds: string[]): Promise<Map<string, WorkflowEta>> {
  const etas = new Map<string, WorkflowEta>(workflowIds.map((id) => [id, { expected_end_at: null, eta_reason: null }]));
  if (workflowIds.length === 0) return etas;
  const rows = await em.execute<Array<{ workflow_id: string; expected_end_at: Date | string | null; eta_reason: string | null }>>(
    `select distinct on (r.workflow_id) r.workflow_id, e.expected_end_at, e.eta_reason
     from work_request r ${joinStoredEstimate('r.id', 'e', 'inner')}
     where r.workflow_id in (?) and r.superseded_by_id is null and r.status in ('blocked', 'pending', 'running')
     order by r.workflow_id, e.expected_end_at desc nulls last, r.id`,
    [workflowIds],
  );
  for (const row of rows) {
    etas.set(row.workflow_id, { expected_end_at: iso(row.expected_end_at ? new Date(row.expected_end_at) : null) ?? null, eta_reason: row.eta_reason });
  }
  return etas;
}

/**
 * The workflow with each task's current work request (create answers, GET ?tasks=true); with `taskIds`, only
 * those tasks' (the add-tasks answer: a lookup each in the current-attempt index, not the whole run).
 */
export async function getWorkflowWithTasks(em: EntityManager, row: Workflow, taskIds?: string[]): Promise<WorkflowWithTasks> {
  // rawQuery: em.execute costs several times the query on 10,000 rows.
  const tasks = await rawQuery<
    { task_id: string; id: string; status: WorkRequestStatus; result: WorkRequestResult | null; attempt: number; depends_on: string[]; worker: string | null; started_at: Date | null; completed_at: Date | null }
  >(
    em,
    `select r.task_id, r.id, r.status, r.result, r.attempt, k.name as worker, r.started_at, r.completed_at,
       array(select e.depends_on from workflow_dependency e where e.workflow_id = r.workflow_id and e.task_id = r.task_id order by e.depends_on) as depends_on
     from work_request r left join worker k on k.id = r.worker_id
     where r.workflow_id = ? and r.superseded_by_id is null and r.task_id is not null
       ${taskIds === undefined ? '' : 'and r.task_id = any(?::text[])'} order by r.id`,
    taskIds === undefined ? [row.workflowId] : [row.workflowId, taskIds],
  );
  return {
    ...(await getWorkflow(em, row.workflowId, row)),
    tasks: tasks.map((task) => ({
      task_id: task.task_id,
      work_request_id: Number(task.id),
      status: task.status,
      result: task.result,
      attempt: task.attempt,
      depends_on: task.depends_on,
      worker: task.worker,
      started_at: iso(task.started_at) ?? null,
      completed_at: iso(task.completed_at) ?? null,
    })),
  };
}

/** Newest first; the cursor is the last row's (created_at, workflow_id), opaque to clients. */
export async function listWorkflows(em: EntityManager, query: ListWorkflowsQuery): Promise<{ workflows: WorkflowJson[]; nextCursor: string | null }> {
  const where: string[] = [];
  const values: unknown[] = [];
  if (query.status) {
    where.push('status in (?)');
    values.push(query.status);
  }
  if (query.cursor) {
    const { createdAt, workflowId } = decodeCursor(query.cursor);
    where.push('(created_at, workflow_id) < (?::timestamptz, ?)');
    values.push(createdAt, workflowId);
  }
  const rows = await em.execute<Array<Record<string, unknown>>>(
    `select * from workflow ${where.length > 0 ? `where ${where.join(' and ')}` : ''} order by created_at desc, workflow_id desc limit ?`,
    [...values, query.limit + 1],
  );
  const mapped = rows.map((row) => em.map(Workflow, row));
  const hasMore = mapped.length > query.limit;
  const page = hasMore ? mapped.slice(0, query.limit) : mapped;
  const counts = await taskCounts(em, page.map((row) => row.workflowId));
  const costs = await runCosts(em, page.map((row) => row.workflowId));
  const last = page[page.length - 1];
  return {
    workflows: page.map((row) => serializeWorkflow(row, counts.get(row.workflowId) as TaskCounts, costs.get(row.workflowId) as RunCosts)),
    nextCursor: hasMore ? Buffer.from(JSON.stringify([new Date(last.createdAt).toISOString(), last.workflowId]), 'utf8').toString('base64url') : null,
  };
}

function decodeCursor(cursor: string): { createdAt: string; workflowId: string } {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && parsed.length === 2 && typeof parsed[0] === 'string' && typeof parsed[1] === 'string' && !Number.isNaN(Date.parse(parsed[0]))) {
      return { createdAt: parsed[0], workflowId: parsed[1] };
    }
  } catch {
    // not JSON: answered below
  }
  throw new InvalidCursorError('not a cursor this server gave out');
}

/** Ray's workflow metadata, or a task's: task_options (the normalised spec), its attempts, its current work request. */
export async function getWorkflowMetadata(em: EntityManager, workflowId: string, taskId?: string) {
  const workflow = await getWorkflowOrFail(em, workflowId);
  if (taskId === undefined) {
    return { workflow_id: workflow.workflowId, status: workflow.status, user_metadata: workflow.userMetadata, stats: stats(workflow.startTime, workflow.endTime) };
  }
  return taskMetadata(em, workflowId, taskId);
}

async function taskMetadata(em: EntityManager, workflowId: string, taskId: string): Promise<TaskMetadata> {
  const attempts = await em.find(WorkRequest, { workflowId, taskId }, { orderBy: { id: 'asc' }, populate: ['worker'] });
  if (attempts.length === 0) throw new NotFoundError(`workflow ${workflowId} has no task "${taskId}"`);
  const current = attempts.find((row) => row.supersededById === null || row.supersededById === undefined) ?? attempts[attempts.length - 1];
  const first = attempts[0];
  const edges = await em.execute<Array<{ depends_on: string }>>(
    `select depends_on from workflow_dependency where workflow_id = ? and task_id = ? order by depends_on`,
    [workflowId, taskId],
  );
  const dependsOn = edges.map((edge) => edge.depends_on);
  return {
    workflow_id: workflowId,
    task_id: taskId,
    name: current.taskName,
    status: current.status,
    task_options: {
      task_name: first.taskName,
      subject: first.subject ?? null,
      context: first.context ?? null,
      execution: first.taskData.execution,
      time_limit: first.timeLimitS ?? null,
      resources: first.requirements,
      interrupt_allowed: first.interruptAllowed,
      priority: first.priority,
      max_attempts: first.maxAttempts,
      use_history: first.taskData.use_history,
      ...requiredFilesOf(first.taskData),
      depends_on: dependsOn,
      allow_failure: first.allowFailure,
    },
    user_metadata: current.userMetadata,
    stats: stats(current.startedAt, current.completedAt),
    depends_on: dependsOn,
    allow_failure: current.allowFailure,
    work_request: serializeWorkRequest(current),
    attempts: attempts.map((row) => ({
      id: row.id,
      attempt: row.attempt,
      status: row.status,
      result: row.result ?? null,
      output_data: row.outputData ?? null,
      created_at: iso(row.createdAt) as string,
      started_at: iso(row.startedAt) ?? null,
      completed_at: iso(row.completedAt) ?? null,
    })),
  };
}

/** A task's result (null unless it succeeded), or those of the tasks nothing depends on. */
export async function getWorkflowOutput(em: EntityManager, workflowId: string, taskId?: string): Promise<WorkflowOutput> {
  const workflow = await getWorkflowOrFail(em, workflowId);
  const rows = await em.execute<Array<{ task_id: string; result: string | null; value: unknown }>>(
    taskId === undefined
      ? `select r.task_id, r.result, r.output_data -> 'result' as value from work_request r
         where r.workflow_id = ? and r.superseded_by_id is null and r.task_id is not null
           and not exists (select 1 from workflow_dependency e where e.workflow_id = r.workflow_id and e.depends_on = r.task_id)
         order by r.id`
      : `select task_id, result, output_data -> 'result' as value from work_request
         where workflow_id = ? and task_id = ? and superseded_by_id is null`,
    taskId === undefined ? [workflowId] : [workflowId, taskId],
  );
  if (taskId !== undefined && rows.length === 0) throw new NotFoundError(`workflow ${workflowId} has no task "${taskId}"`);
  const results: Record<string, unknown> = {};
  for (const row of rows) results[row.task_id] = row.result === 'success' ? (row.value ?? null) : null;
  return {
    workflow_id: workflowId,
    status: workflow.status,
    results: results as WorkflowOutput['results'],
    ...(taskId !== undefined ? { result: results[taskId] as WorkflowOutput['result'] } : {}),
  };
}
