import type { EntityManager } from '@mikro-orm/postgresql';
import type { PoolClient } from 'pg';
import type { TaskSpec } from '../../protocol/taskSpec';
import type { WorkflowStatus, WorkflowTemplate } from '../../protocol/workflow';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { insertFiringsStatement, linkFiringsStatement, linkWorkflowFiringsStatement, type NewFiring } from '../sql/schedules';
import { createWorkRequestsOn } from '../workRequests/createWorkRequests';
import { createWorkflowIn } from '../workflows/createWorkflow';

/** What a firing creates: a task from `spec`, or a workflow from `workflow` (then `em` must be the transaction's). */
export interface FiringRequest extends NewFiring {
  scheduleName: string;
  spec: TaskSpec | null;
  workflow?: WorkflowTemplate | null;
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

/**
 * Inside the caller's transaction: inserts the firings, and for each one that is new (its key (schedule,
 * fire_time) was not there yet) creates its work request through the one create path (or its workflow through
 * createWorkflow, given `em` on the same transaction) and links the two. A key another process fired already
 * is skipped, so the same fire time never creates work twice.
 */
export async function createFirings(client: PoolClient, requests: FiringRequest[], policy: SchedulingPolicy, em?: EntityManager): Promise<CreatedFiring[]> {
  if (requests.length === 0) return [];
  const inserted = await client.query<{ id: string; schedule_id: string; fire_time: Date }>(insertFiringsStatement(requests));
  const byKey = new Map(requests.map((request) => [firingKey(request.scheduleId, request.fireTime), request]));
  const fresh = inserted.rows.map((row) => ({ row, request: byKey.get(firingKey(Number(row.schedule_id), row.fire_time))! }));
  const tasks = fresh.filter(({ request }) => !request.workflow);
  const specs = tasks.map(({ request }) => (request.files ? withFilePaths(request.spec!, request.files) : request.spec!));
  const created = await createWorkRequestsOn(client, specs, policy);
  const links = tasks.map(({ row, request }, index) => ({ firingId: Number(row.id), workRequestId: created[index].id, scheduleName: request.scheduleName }));
  if (links.length > 0) await client.query(linkFiringsStatement(links));
  const workflowLinks: Array<{ firingId: number; workflowId: string; status: WorkflowStatus }> = [];
  for (const { row, request } of fresh) {
    if (!request.workflow) continue;
    if (!em) throw new Error(`schedule ${request.scheduleName}: a workflow firing needs the transaction's entity manager`);
    const workflowId = scheduledWorkflowId(request.scheduleName, request.fireTime);
    const { workflow } = await createWorkflowIn(em, { ...request.workflow, workflow_id: workflowId }, policy);
    workflowLinks.push({ firingId: Number(row.id), workflowId, status: workflow.status });
  }
  if (workflowLinks.length > 0) await client.query(linkWorkflowFiringsStatement(workflowLinks));
  const requestIds = new Map(links.map((link) => [link.firingId, link.workRequestId]));
  const workflowIds = new Map(workflowLinks.map((link) => [link.firingId, link]));
  return fresh.map(({ row }) => ({
    id: Number(row.id),
    scheduleId: Number(row.schedule_id),
    fireTime: row.fire_time,
    workRequestId: requestIds.get(Number(row.id)) ?? null,
    workflowId: workflowIds.get(Number(row.id))?.workflowId ?? null,
    workflowStatus: workflowIds.get(Number(row.id))?.status ?? null,
  }));
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
