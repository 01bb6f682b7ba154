import type { PoolClient } from 'pg';
import type { TaskSpec } from '../../protocol/taskSpec';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { insertFiringsStatement, linkFiringsStatement, type NewFiring } from '../sql/schedules';
import { createWorkRequestsOn } from '../workRequests/createWorkRequests';

export interface FiringRequest extends NewFiring {
  scheduleName: string;
  spec: TaskSpec;
}

export interface CreatedFiring {
  id: number;
  scheduleId: number;
  fireTime: Date;
  workRequestId: number;
}

/**
 * Inside the caller's transaction: inserts the firings, and for each one that is new (its key (schedule,
 * fire_time) was not there yet) creates its work request through the one create path and links the two. A key
 * another process fired already is skipped, so the same fire time never creates work twice.
 */
export async function createFirings(client: PoolClient, requests: FiringRequest[], policy: SchedulingPolicy): Promise<CreatedFiring[]> {
  if (requests.length === 0) return [];
  const inserted = await client.query<{ id: string; schedule_id: string; fire_time: Date }>(insertFiringsStatement(requests));
  const byKey = new Map(requests.map((request) => [firingKey(request.scheduleId, request.fireTime), request]));
  const fresh = inserted.rows.map((row) => ({ row, request: byKey.get(firingKey(Number(row.schedule_id), row.fire_time))! }));
  const specs = fresh.map(({ request }) => (request.files ? withFilePaths(request.spec, request.files) : request.spec));
  const created = await createWorkRequestsOn(client, specs, policy);
  const links = fresh.map(({ row, request }, index) => ({ firingId: Number(row.id), workRequestId: created[index].id, scheduleName: request.scheduleName }));
  if (links.length > 0) await client.query(linkFiringsStatement(links));
  return fresh.map(({ row }, index) => ({ id: Number(row.id), scheduleId: Number(row.schedule_id), fireTime: row.fire_time, workRequestId: created[index].id }));
}

const firingKey = (scheduleId: number, fireTime: Date) => `${scheduleId}@${fireTime.getTime()}`;

/** The spec with the files' paths in each `filepath_parameter`: one path as a value, several as a repeated parameter. */
export function withFilePaths(spec: TaskSpec, files: string[]): TaskSpec {
  const value = files.length === 1 ? files[0] : files;
  const parameters = { ...spec.execution.parameters };
  for (const name of spec.filepath_parameter ?? []) parameters[name] = value;
  return { ...spec, execution: { ...spec.execution, parameters } };
}
