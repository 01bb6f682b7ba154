import { Router } from 'express';
import { taskSpecSchema } from '../../protocol/taskSpec';
import { completeWorkRequestSchema, postLogsRequestSchema, releaseWorkRequestSchema } from '../../protocol/workerApi';
import { getWorkRequestQuerySchema, listWorkRequestsQuerySchema, logEntriesQuerySchema, priorityAdjustmentRequestSchema, type WorkRequestList } from '../../protocol/workRequest';
import { schedulingPolicyOf } from '../history/schedulingPolicy';
import { ROLES, principalOf, requireRole, workerIdOf } from '../auth';
import type { ServerContext } from '../context';
import { parseId, parseInput } from '../errors';
import { adjustPriority } from '../workRequests/adjustPriority';
import { cancelWorkRequest } from '../workRequests/cancelWorkRequest';
import { completeWorkRequest } from '../workRequests/completeWorkRequest';
import { createWorkRequest } from '../workRequests/createWorkRequest';
import { appendLogEntries, readLogEntries } from '../workRequests/logEntries';
import { getWorkRequest, listWorkRequests } from '../workRequests/queryWorkRequests';
import { releaseWorkRequest } from '../workRequests/releaseWorkRequest';
import { serializeWorkRequest } from '../workRequests/serializeWorkRequest';
import { asyncRoute, clientGoneSignal } from './asyncRoute';
import { followLogEntries } from './followLogEntries';
import { waitForWorkRequestChange } from './waitForWorkRequestChange';

/** /api/v1/work-requests: clients create and watch work; the assigned worker posts logs and the result. */
export function workRequestRoutes(ctx: ServerContext): Router {
  const router = Router();
  const fork = () => ctx.orm.em.fork();
  const client = requireRole(ctx.authenticator, ROLES.client);
  const worker = requireRole(ctx.authenticator, ROLES.worker);
  const policy = schedulingPolicyOf(ctx.config);

  router.post(
    '/',
    client,
    asyncRoute(async (req, res) => {
      const spec = parseInput(taskSpecSchema, req.body, 'task spec');
      const row = await createWorkRequest(fork(), spec, policy);
      res.status(201).location(`/api/v1/work-requests/${row.id}`).json(serializeWorkRequest(row));
    }),
  );

  router.get(
    '/',
    client,
    asyncRoute(async (req, res) => {
      const query = parseInput(listWorkRequestsQuerySchema, req.query, 'query');
      const { rows, nextCursor } = await listWorkRequests(fork(), query);
      const answer: WorkRequestList = { work_requests: rows.map((row) => serializeWorkRequest(row)), next_cursor: nextCursor };
      res.json(answer);
    }),
  );

  router.get(
    '/:id',
    client,
    asyncRoute(async (req, res) => {
      const id = parseId(req.params.id);
      const query = parseInput(getWorkRequestQuerySchema, req.query, 'query');
      if (query.wait_s) {
        res.json(await waitForWorkRequestChange(ctx, id, query.while_status, query.wait_s * 1000, clientGoneSignal(res)));
        return;
      }
      res.json(serializeWorkRequest(await getWorkRequest(fork(), id)));
    }),
  );

  router.post(
    '/:id/cancel',
    client,
    asyncRoute(async (req, res) => {
      const id = parseId(req.params.id);
      const principal = principalOf(req);
      const row = await cancelWorkRequest(fork(), id, `${principal.role} token #${principal.tokenId}`);
      res.json(serializeWorkRequest(row));
    }),
  );

  router.post(
    '/:id/priority',
    requireRole(ctx.authenticator, ROLES.operator),
    asyncRoute(async (req, res) => {
      const id = parseId(req.params.id);
      const body = parseInput(priorityAdjustmentRequestSchema, req.body, 'priority adjustment');
      const principal = principalOf(req);
      const row = await adjustPriority(fork(), id, body.priority_adjustment, `${principal.role} token #${principal.tokenId}`);
      res.json(serializeWorkRequest(row));
    }),
  );

  router.get(
    '/:id/logs',
    client,
    asyncRoute(async (req, res) => {
      const id = parseId(req.params.id);
      const query = parseInput(logEntriesQuerySchema, req.query, 'query');
      const request = await getWorkRequest(fork(), id);
      const afterSeq = query.after_seq ?? -1;
      if (query.follow) {
        await followLogEntries(ctx, res, id, afterSeq, clientGoneSignal(res));
        return;
      }
      const entries = await readLogEntries(fork(), id, afterSeq, query.limit ?? 100_000);
      res.json({ entries, truncated: request.logTruncated });
    }),
  );

  router.post(
    '/:id/logs',
    worker,
    asyncRoute(async (req, res) => {
      const id = parseId(req.params.id);
      const body = parseInput(postLogsRequestSchema, req.body, 'log entries');
      res.json(await appendLogEntries(fork(), id, workerIdOf(req), body.entries, ctx.config.logMaxBytes));
    }),
  );

  router.post(
    '/:id/complete',
    worker,
    asyncRoute(async (req, res) => {
      const id = parseId(req.params.id);
      const body = parseInput(completeWorkRequestSchema, req.body, 'completion');
      const { row, worker: assigned } = await completeWorkRequest(fork(), id, workerIdOf(req), body, policy);
      res.json(serializeWorkRequest(row, assigned));
    }),
  );

  router.post(
    '/:id/release',
    worker,
    asyncRoute(async (req, res) => {
      const id = parseId(req.params.id);
      const body = parseInput(releaseWorkRequestSchema, req.body, 'release');
      const row = await releaseWorkRequest(fork(), id, workerIdOf(req), body);
      res.json(serializeWorkRequest(row));
    }),
  );

  return router;
}
