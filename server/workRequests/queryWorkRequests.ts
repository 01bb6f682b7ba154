import type { EntityManager, FilterQuery } from '@mikro-orm/postgresql';
import type { ListWorkRequestsQuery } from '../../protocol/workRequest';
import { WorkRequest } from '../../entities';
import { InvalidCursorError, NotFoundError } from '../errors';

export async function getWorkRequest(em: EntityManager, id: number): Promise<WorkRequest> {
  const row = await em.findOne(WorkRequest, { id }, { populate: ['worker'] });
  if (!row) throw new NotFoundError(`work request ${id} does not exist`);
  return row;
}

/** Newest first; the cursor is the last id of the previous page (opaque to clients). */
export async function listWorkRequests(
  em: EntityManager,
  query: ListWorkRequestsQuery,
): Promise<{ rows: WorkRequest[]; nextCursor: string | null }> {
  const where: FilterQuery<WorkRequest> = {};
  if (query.status) where.status = { $in: query.status };
  if (query.result) where.result = { $in: query.result };
  if (query.task_name) where.taskName = query.task_name;
  if (query.subject) where.subject = query.subject;
  if (query.context) where.context = query.context;
  if (query.workflow) where.workflowId = query.workflow;
  if (query.schedule) where.schedule = query.schedule;
  if (query.worker) where.worker = /^\d+$/.test(query.worker) ? Number(query.worker) : { name: query.worker };
  if (query.unschedulable === true) {
    // Only a pending request is unschedulable (the reason may linger on one that has since ended).
    where.unschedulableReason = { $ne: null };
    where.status = { $in: (query.status ?? ['pending']).filter((status) => status === 'pending') };
  } else if (query.unschedulable === false) {
    where.$or = [{ unschedulableReason: null }, { status: { $ne: 'pending' } }];
  }
  if (query.cursor) where.id = { $lt: decodeCursor(query.cursor) };
  const rows = await em.find(WorkRequest, where, {
    populate: ['worker'],
    orderBy: { id: 'desc' },
    limit: query.limit + 1,
  });
  const hasMore = rows.length > query.limit;
  const page = hasMore ? rows.slice(0, query.limit) : rows;
  return { rows: page, nextCursor: hasMore ? encodeCursor(page[page.length - 1].id) : null };
}

function encodeCursor(id: number): string {
  return Buffer.from(`id:${id}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): number {
  const match = /^id:(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw new InvalidCursorError('not a cursor this server gave out');
  return Number(match[1]);
}
