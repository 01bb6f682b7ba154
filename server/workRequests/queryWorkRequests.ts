import type { EntityManager } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import type { ListWorkRequestsQuery, WorkRequestList } from '../../protocol/workRequest';
import { WorkRequest } from '../../entities';
import { joinStoredEstimate } from '../sql/estimateChunks';
import { InvalidCursorError, NotFoundError } from '../errors';
import type { StoredEstimate } from './findEstimates';
import { serializeWorkRequest, type SerializableWorkRequest } from './serializeWorkRequest';

export async function getWorkRequest(em: EntityManager, id: number): Promise<WorkRequest> {
  const row = await em.findOne(WorkRequest, { id }, { populate: ['worker'] });
  if (!row) throw new NotFoundError(`work request ${id} does not exist`);
  return row;
}

/** The columns serializeWorkRequest reads, named as the entity names them, with the worker's and the estimate's. */
const LIST_COLUMNS = `wr.id, wr.task_name as "taskName", wr.subject, wr.context, wr.status, wr.result, wr.state_reason as "stateReason",
  wr.unschedulable_reason as "unschedulableReason", wr.priority, wr.priority_adjustment as "priorityAdjustment", wr.task_data as "taskData",
  wr.requirements, wr.learned_requirements as "learnedRequirements", wr.attempt, wr.max_attempts as "maxAttempts",
  wr.supersedes_id as "supersedesId", wr.superseded_by_id as "supersededById", wr.workflow_id as "workflowId", wr.task_id as "taskId",
  wr.cost, wr.not_before as "notBefore", wr.time_limit_s as "timeLimitS", wr.interrupt_allowed as "interruptAllowed",
  wr.user_metadata as "userMetadata", wr.schedule, wr.output_data as "outputData", wr.created_at as "createdAt",
  wr.started_at as "startedAt", wr.completed_at as "completedAt", w.id as worker_id, w.name as worker_name,
  e.expected_start_at as "expectedStartAt", e.expected_end_at as "expectedEndAt", e.eta_reason as "etaReason"`;

/** A row of LIST_COLUMNS as node-postgres reads it (bigint columns as strings). */
type ListRow = Omit<SerializableWorkRequest, 'id' | 'supersedesId' | 'supersededById' | 'worker'> &
  Pick<StoredEstimate, 'expectedStartAt' | 'expectedEndAt'> & {
    id: string;
    supersedesId: string | null;
    supersededById: string | null;
    worker_id: string | null;
    worker_name: string | null;
    etaReason: string | null;
  };

/**
 * Newest first; the cursor is the last id of the previous page (opaque to clients). One statement with the
 * worker and the stored estimate joined, read as plain rows: the dashboard lists these on every page load, and
 * hydrating entities cost several times the query (measured: 8 ms of the server's CPU for 20 rows).
 */
export async function listWorkRequests(pool: Pool, query: ListWorkRequestsQuery): Promise<WorkRequestList> {
  const values: unknown[] = [];
  const param = (value: unknown) => `$${values.push(value)}`;
  const where: string[] = [];
  if (query.status) where.push(`wr.status = any(${param(query.status)}::text[])`);
  if (query.result) where.push(`wr.result = any(${param(query.result)}::text[])`);
  if (query.task_name) where.push(`wr.task_name = ${param(query.task_name)}`);
  if (query.subject) where.push(`wr.subject = ${param(query.subject)}`);
  if (query.context) where.push(`wr.context = ${param(query.context)}`);
  if (query.workflow) where.push(`wr.workflow_id = ${param(query.workflow)}`);
  if (query.schedule) where.push(`wr.schedule = ${param(query.schedule)}`);
  if (query.worker) where.push(/^\d+$/.test(query.worker) ? `wr.worker_id = ${param(Number(query.worker))}` : `w.name = ${param(query.worker)}`);
  if (query.unschedulable === true) {
    // Only a pending request is unschedulable (the reason may linger on one that has since ended).
    where.push(`wr.unschedulable_reason is not null`, `wr.status = 'pending'`);
    if (query.status && !query.status.includes('pending')) where.push('false');
  } else if (query.unschedulable === false) {
    where.push(`(wr.unschedulable_reason is null or wr.status <> 'pending')`);
  }
  if (query.cursor) where.push(`wr.id < ${param(decodeCursor(query.cursor))}`);
  const { rows } = await pool.query<ListRow>(
    `select ${LIST_COLUMNS}
     from work_request wr left join worker w on w.id = wr.worker_id ${joinStoredEstimate('wr.id', 'e')}
     ${where.length > 0 ? `where ${where.join(' and ')}` : ''}
     order by wr.id desc limit ${param(query.limit + 1)}`,
    values,
  );
  const hasMore = rows.length > query.limit;
  const page = (hasMore ? rows.slice(0, query.limit) : rows).map((row) => {
    const request = { ...row, id: Number(row.id), supersedesId: toNumber(row.supersedesId), supersededById: toNumber(row.supersededById) };
    const worker = row.worker_id === null ? null : { id: Number(row.worker_id), name: row.worker_name ?? '' };
    const eta = row.etaReason === null ? null : { expectedStartAt: row.expectedStartAt, expectedEndAt: row.expectedEndAt, etaReason: row.etaReason };
    return serializeWorkRequest(request, worker, eta);
  });
  return { work_requests: page, next_cursor: hasMore ? encodeCursor(page[page.length - 1].id) : null };
}

const toNumber = (value: string | null): number | null => (value === null ? null : Number(value));

function encodeCursor(id: number): string {
  return Buffer.from(`id:${id}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): number {
  const match = /^id:(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw new InvalidCursorError('not a cursor this server gave out');
  return Number(match[1]);
}
