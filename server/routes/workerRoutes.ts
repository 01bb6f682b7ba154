import { workerIdOf } from '../auth';
import type { ServerContext } from '../context';
import { claimWithWait } from '../scheduler/claimWithWait';
import { recordHeartbeat } from '../workers/heartbeat';
import { listWorkers } from '../workers/listWorkers';
import { registerWorker } from '../workers/registerWorker';
import { serializeWorker } from '../workers/serializeWorker';
import { clientGoneSignal } from './clientGoneSignal';
import type { RouteHandlers } from './mountRoutes';

/** /api/v1/workers: the worker agents' own routes, and the operators' list of workers. */
export function workerRoutes(ctx: ServerContext): Pick<RouteHandlers, 'registerWorker' | 'heartbeat' | 'claim' | 'listWorkers'> {
  const fork = () => ctx.orm.em.fork();
  return {
    registerWorker: async ({ body }) => {
      const { worker, token } = await registerWorker(fork(), body);
      ctx.logger.info({ worker: worker.name, id: worker.id }, 'worker registered');
      return { worker: serializeWorker(worker, 0), token };
    },

    heartbeat: async ({ body, req }) => {
      const { cancel } = await recordHeartbeat(fork(), workerIdOf(req), body, { claimGraceS: ctx.config.claimGraceS });
      return { cancel, heartbeat_interval_s: ctx.config.heartbeatIntervalS };
    },

    claim: async ({ body, req, res }) => {
      const claimed = await claimWithWait(ctx.pool, fork, ctx.notifications, workerIdOf(req), body.max, body.wait_s, clientGoneSignal(res), () =>
        ctx.metrics.claimTransactions.inc(),
      );
      ctx.metrics.claimedRequests.inc(claimed.length);
      return { work_requests: claimed };
    },

    listWorkers: async () => {
      const rows = await listWorkers(fork());
      return { workers: rows.map(({ worker, running }) => serializeWorker(worker, running)) };
    },
  };
}
