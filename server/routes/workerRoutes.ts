import { workerIdOf } from '../auth';
import type { ServerContext } from '../context';
import type { EndedAttempt } from '../metrics';
import { schedulingPolicyOf } from '../history/schedulingPolicy';
import { claimWithWait } from '../scheduler/claimWithWait';
import { recordHeartbeat } from '../workers/heartbeat';
import { listWorkers } from '../workers/listWorkers';
import { registerWorker } from '../workers/registerWorker';
import { completeWorkRequests } from '../workRequests/completeWorkRequests';
import { serializeWorker } from '../workers/serializeWorker';
import { clientGoneSignal } from './clientGoneSignal';
import type { RouteHandlers } from './mountRoutes';

/** /api/v1/workers: the worker agents' own routes, and the operators' list of workers. */
export function workerRoutes(ctx: ServerContext): Pick<RouteHandlers, 'registerWorker' | 'heartbeat' | 'claim' | 'completeBatch' | 'listWorkers'> {
  const fork = () => ctx.orm.em.fork();
  const policy = schedulingPolicyOf(ctx.config);
  return {
    registerWorker: async ({ body }) => {
      const { worker, token } = await registerWorker(fork(), body);
      ctx.logger.info({ worker: worker.name, id: worker.id }, 'worker registered');
      return { worker: serializeWorker(worker, 0), token };
    },

    heartbeat: async ({ body, req }) => {
      const { cancel, preempted } = await recordHeartbeat(fork(), workerIdOf(req), body, { claimGraceS: ctx.config.claimGraceS, policy });
      return { cancel, preempted, heartbeat_interval_s: ctx.config.heartbeatIntervalS };
    },

    claim: async ({ body, req, res }) => {
      const workerId = workerIdOf(req);
      // Applied (and committed) first, so the slots they free count in this claim.
      const ended: EndedAttempt[] = [];
      const results = body.results.length > 0 ? await completeWorkRequests(fork(), workerId, body.results, policy, ended) : [];
      ctx.metrics.recordEnded(ended);
      const claimed = await claimWithWait(ctx.pool, fork, ctx.notifications, workerId, body.max, body.wait_s, clientGoneSignal(res), () =>
        ctx.metrics.claimTransactions.inc(),
      );
      ctx.metrics.claimedRequests.inc(claimed.length);
      return { work_requests: claimed, results };
    },

    completeBatch: async ({ body, req }) => {
      const ended: EndedAttempt[] = [];
      const results = await completeWorkRequests(fork(), workerIdOf(req), body.results, policy, ended);
      ctx.metrics.recordEnded(ended);
      return { results };
    },

    listWorkers: async () => {
      const rows = await listWorkers(fork());
      return { workers: rows.map(({ worker, running }) => serializeWorker(worker, running)) };
    },
  };
}
