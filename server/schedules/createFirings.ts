import type { EntityManager } from '@mikro-orm/postgresql';
import type { PoolClient } from 'pg';
import type { TaskSpec } from '../../protocol/taskSpec';
import type { WorkflowStatus, WorkflowTemplate } from '../../protocol/workflow';
import { ValidationError } from '../errors';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { insertFiringsStatement, linkFiringsStatement, type NewFiring, type ScheduleAdvance } from '../sql/schedules';
import { createWorkRequestsOn } from '../workRequests/createWorkRequests';
import { expandsRequiredFolder, findFolderFiles, singleFileWorkflow } from '../workRequests/expandRequiredFolder';
import { createWorkflowIn } from '../workflows/createWorkflow';

/** What a firing creates: a task from `spec`, or a workflow from `workflow`. */
export interface FiringRequest extends NewFiring {
  scheduleName: string;
  spec: TaskSpec | null;
  workflow?: WorkflowTemplate | null;
}

/** What firing needs besides the requests: `em` on the caller's transaction when a firing creates a workflow (through the ORM). */
export interface FiringContext {
  policy: SchedulingPolicy;
  /** WORKSCHED_MAX_EXPANSION: a spec's `required_folder` read at a firing expands to at most this many files. */
  maxExpansion: number;
  em?: EntityManager;
}

export interface CreatedFiring {
  id: number;
  scheduleId: number;
  fireTime: Date;
  workRequestId: number | null;
  workflowId: string | null;
  /** The created workflow's status (RUNNING, or PENDING while WORKSCHED_MAX_RUNNING_WORKFLOWS are running). */
  workflowStatus: WorkflowStatus | null;
}

/** A request whose spec could not be expanded (its required_folder unreadable, empty or too big): nothing fired. */
export interface FailedFiring {
  scheduleId: number;
  fireTime: Date;
  message: string;
}

type Work = { spec: TaskSpec; workflow?: undefined } | { workflow: WorkflowTemplate; spec?: undefined };

/**
 * Inside the caller's transaction: works out what each request creates (a spec's required_folder is read as
 * POST /work-requests reads it: its files passed in `filepath_parameter`, or one task each with
 * single_file_task), inserts the firings and applies `advances` to their schedules in one statement, then for
 * each firing that is new (its key (schedule, fire_time) was not there yet) creates its work requests through
 * the one create path (or its workflow through createWorkflow) and links them. A key another process fired
 * already is skipped, so the same fire time never creates work twice. A request that cannot be expanded is not
 * fired: it counts as skipped and its message goes to the schedule's last_error; a schedule that fires has its
 * last_error cleared.
 */
export async function createFirings(
  client: PoolClient,
  requests: FiringRequest[],
  advances: ScheduleAdvance[],
  context: FiringContext,
): Promise<{ created: CreatedFiring[]; failed: FailedFiring[] }> {
  if (requests.length === 0 && advances.length === 0) return { created: [], failed: [] };
  const planned: Array<{ request: FiringRequest; work: Work }> = [];
  const failed: FailedFiring[] = [];
  for (const request of requests) {
    const work = await workOf(request, context.maxExpansion);
    if ('message' in work) failed.push({ scheduleId: request.scheduleId, fireTime: request.fireTime, message: work.message });
    else planned.push({ request, work });
  }
  const byId = new Map(advances.map((advance) => [advance.id, { ...advance }]));
  const advanceOf = (id: number) => byId.get(id) ?? byId.set(id, { id, nextFireAt: null, skipped: 0 }).get(id)!;
  for (const { request } of planned) advanceOf(request.scheduleId).error = null;
  for (const failure of failed) {
    const advance = advanceOf(failure.scheduleId);
    advance.skipped += 1;
    advance.error = failure.message;
  }

  const inserted = await client.query<{ id: string; schedule_id: string; fire_time: Date }>(
    insertFiringsStatement(planned.map(({ request }) => request), [...byId.values()]),
  );
  const byKey = new Map(planned.map((item) => [firingKey(item.request.scheduleId, item.request.fireTime), item]));
  const fresh = inserted.rows.map((row) => ({ row, ...byKey.get(firingKey(Number(row.schedule_id), row.fire_time))! }));

  const tasks = fresh.filter(({ work }) => work.spec);
  const requestsCreated = await createWorkRequestsOn(client, tasks.map(({ work }) => work.spec!), context.policy, tasks.map(({ request }) => request.scheduleName));
  const made = new Map<number, { workRequestId: number | null; workflowId: string | null; status: WorkflowStatus | null }>();
  tasks.forEach(({ row }, index) => made.set(Number(row.id), { workRequestId: requestsCreated[index].id, workflowId: null, status: null }));
  const workflowSchedules = new Map<string, string>();
  for (const { row, request, work } of fresh) {
    if (!work.workflow) continue;
    if (!context.em) throw new Error(`schedule ${request.scheduleName}: a workflow firing needs the transaction's entity manager`);
    const workflowId = scheduledWorkflowId(request.scheduleName, request.fireTime);
    const { workflow } = await createWorkflowIn(context.em, { ...work.workflow, workflow_id: workflowId }, context.policy);
    made.set(Number(row.id), { workRequestId: null, workflowId, status: workflow.status });
    workflowSchedules.set(workflowId, request.scheduleName);
  }
  if (made.size > 0) {
    const links = [...made.entries()].map(([firingId, link]) => ({ firingId, workRequestId: link.workRequestId, workflowId: link.workflowId }));
    await client.query(linkFiringsStatement(links, workflowSchedules));
  }
  const created = fresh.map(({ row }) => {
    const link = made.get(Number(row.id))!;
    return {
      id: Number(row.id),
      scheduleId: Number(row.schedule_id),
      fireTime: row.fire_time,
      workRequestId: link.workRequestId,
      workflowId: link.workflowId,
      workflowStatus: link.status,
    };
  });
  return { created, failed };
}

/**
 * A request's work: its workflow template; a files trigger's batch in the spec's `filepath_parameter` (one
 * task per file with single_file_task); a spec's required_folder read now as POST /work-requests reads it.
 */
async function workOf(request: FiringRequest, maxExpansion: number): Promise<Work | { message: string }> {
  if (request.workflow) return { workflow: request.workflow };
  const spec = request.spec!;
  let files = request.files;
  if (!files && expandsRequiredFolder(spec)) {
    try {
      files = await findFolderFiles(spec, maxExpansion);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      return { message: `fire time ${request.fireTime.toISOString()} created nothing: ${error.message}` };
    }
  }
  if (!files) return { spec };
  return spec.single_file_task ? { workflow: singleFileWorkflow(spec, files) } : { spec: withFilePaths(spec, files) };
}

const firingKey = (scheduleId: number, fireTime: Date) => `${scheduleId}@${fireTime.getTime()}`;

/**
 * A firing's workflow id: the schedule's name and the fire time in ms ("nightly:1764662400000"), unique per
 * firing as the firing key is, and within workflow_id's 200 characters (a name is at most 200: cut to 180).
 */
export function scheduledWorkflowId(scheduleName: string, fireTime: Date): string {
  return `${scheduleName.slice(0, 180)}:${fireTime.getTime()}`;
}

/** The spec with the files' paths in each `filepath_parameter`: one path as a value, several as a repeated parameter. */
export function withFilePaths(spec: TaskSpec, files: string[]): TaskSpec {
  const value = files.length === 1 ? files[0] : files;
  const parameters = { ...spec.execution.parameters };
  for (const name of spec.filepath_parameter ?? []) parameters[name] = value;
  return { ...spec, execution: { ...spec.execution, parameters } };
}
