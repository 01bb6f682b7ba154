import { Router } from 'express';
import {
  claimRequestSchema,
  heartbeatRequestSchema,
  registerWorkerRequestSchema,
  type ClaimResponse,
  type HeartbeatResponse,
  type RegisterWorkerResponse,
} from '../../protocol/workerApi';
import { ROLES, requireRole, workerIdOf } from '../auth';
import type { ServerContext } from '../context';
import { parseInput } from '../errors';
import { claimWithWait } from '../scheduler/claimWithWait';
import { recordHeartbeat } from '../workers/heartbeat';
import { listWorkers } from '../workers/listWorkers';
import { registerWorker } from '../workers/registerWorker';
import { serializeWorker } from '../workers/serializeWorker';
import { asyncRoute, clientGoneSignal } from './asyncRoute';

/** /api/v1/workers: the worker agents' own routes, and the operators' list of workers. */
export function workerRoutes(ctx: ServerContext): Router {
  const router = Router();
  const fork = () => ctx.orm.em.fork();

  router.post(
    '/register',
    requireRole(ctx.authenticator, ROLES.enrollment),
    asyncRoute(async (req, res) => {
      const body = parseInput(registerWorkerRequestSchema, req.body, 'worker registration');
      const { worker, token } = await registerWorker(fork(), body);
      ctx.logger.info({ worker: worker.name, id: worker.id }, 'worker registered');
      const answer: RegisterWorkerResponse = { worker: serializeWorker(worker, 0), token };
      res.status(201).json(answer);
    }),
  );

  router.post(
    '/heartbeat',
    requireRole(ctx.authenticator, ROLES.worker),
    asyncRoute(async (req, res) => {
      const body = parseInput(heartbeatRequestSchema, req.body, 'heartbeat');
      const { cancel } = await recordHeartbeat(fork(), workerIdOf(req), body, { claimGraceS: ctx.config.claimGraceS });
      const answer: HeartbeatResponse = { cancel, heartbeat_interval_s: ctx.config.heartbeatIntervalS };
      res.json(answer);
    }),
  );

  router.post(
    '/claim',
    requireRole(ctx.authenticator, ROLES.worker),
    asyncRoute(async (req, res) => {
      const body = parseInput(claimRequestSchema, req.body ?? {}, 'claim');
      const claimed = await claimWithWait(ctx.pool, fork, ctx.notifications, workerIdOf(req), body.max, body.wait_s, clientGoneSignal(res));
      ctx.metrics.claimedRequests.inc(claimed.length);
      const answer: ClaimResponse = { work_requests: claimed };
      res.json(answer);
    }),
  );

  router.get(
    '/',
    requireRole(ctx.authenticator, ROLES.operator),
    asyncRoute(async (_req, res) => {
      const rows = await listWorkers(fork());
      res.json({ workers: rows.map(({ worker, running }) => serializeWorker(worker, running)) });
    }),
  );

  return router;
}
