import { workerIdOf } from '../auth';
import type { ServerContext } from '../context';
import type { EndedAttempt } from '../metrics';
import { schedulingPolicyOf } from '../history/schedulingPolicy';
import { runPauser } from '../runs/pauseFullRuns';
import { claimWithWait } from '../scheduler/claimWithWait';
import { recordHeartbeat } from '../workers/heartbeat';
import { listWorkers } from '../workers/listWorkers';
import { registerWorker } from '../workers/registerWorker';
import { CarriedReportsRefused } from '../scheduler/claimWorkRequests';
import { completeWorkRequests, endedAttemptOfRow, reportsToCarry, type CompletionReport } from '../workRequests/completeWorkRequests';
import type { CompletedRow } from '../workRequests/completeRunningBatch';
import { withNotificationsAfterCommit } from '../workRequests/notifyChanges';
import { appendCarriedLogEntries } from '../workRequests/logEntries';
import { allWithinOutputDataCap, completeWithinCap } from '../workRequests/outputDataLimit';
import type { LogEntry } from '../../protocol/workRequest';
import { serializeWorker } from '../workers/serializeWorker';
import { setWorkerEnabled } from '../workers/setWorkerEnabled';
import { clientGoneSignal } from './clientGoneSignal';
import type { RouteHandlers } from './mountRoutes';

/** /api/v1/workers: the worker agents' own routes, and the operators' list of workers. */
export function workerRoutes(ctx: ServerContext): Pick<RouteHandlers, 'registerWorker' | 'heartbeat' | 'claim' | 'completeBatch' | 'listWorkers' | 'disableWorker' | 'enableWorker'> {
  const fork = () => ctx.orm.em.fork();
  const policy = schedulingPolicyOf(ctx.config);
  const pauseFullRuns = runPauser(fork, policy, ctx.logger);
  /** Log entries carried with the reports go in first (a report is the task's last word). */
  const storeCarriedLogs = async (workerId: number, results: Array<{ id: number; logs?: LogEntry[] }>) => {
    const carried = results.filter((item) => item.logs !== undefined && item.logs.length > 0).map((item) => ({ id: item.id, entries: item.logs! }));
    if (carried.length > 0) await withNotificationsAfterCommit(ctx.notifications, () => appendCarriedLogEntries(fork(), workerId, carried, ctx.config.logMaxBytes));
  };
  /**
   * Applies the results within the output_data cap (the others are answered 413) and counts the attempts they
   * ended; their wake-ups are sent after the commit (before a claim that carried them starts waiting).
   */
  const complete = async (workerId: number, results: CompletionReport[]) => {
    const ended: EndedAttempt[] = [];
    const answers = await withNotificationsAfterCommit(ctx.notifications, () =>
      completeWithinCap(results, ctx.config.maxOutputData, (accepted) => completeWorkRequests(fork(), ctx.pool, workerId, accepted, policy, ended)),
    );
    ctx.metrics.recordEnded(ended);
    return answers;
  };
  return {
    registerWorker: async ({ body }) => {
      const { worker, token } = await registerWorker(fork(), body);
      ctx.logger.info({ worker: worker.name, id: worker.id }, 'worker registered');
      return { worker: serializeWorker(worker, 0), token };
    },

    heartbeat: async ({ body, req, res }) => {
      const receivedAtMs = typeof res.locals.receivedAtMs === 'number' ? res.locals.receivedAtMs : performance.now();
      const { cancel, preempted } = await recordHeartbeat(fork(), workerIdOf(req), body, { claimGraceS: ctx.config.claimGraceS, policy, receivedAtMs });
      return { cancel, preempted, heartbeat_interval_s: ctx.config.heartbeatIntervalS };
    },

    claim: async ({ body, req, res }) => {
      const workerId = workerIdOf(req);
      await storeCarriedLogs(workerId, body.results);
      const signal = clientGoneSignal(res);
      const countClaim = () => ctx.metrics.claimTransactions.inc();
      // A busy worker's usual claim (successes and skips of plain requests it runs): completed in the claim's
      // own transaction, one round trip and one commit; anything else is refused there and takes the path below.
      const carried = allWithinOutputDataCap(body.results, ctx.config.maxOutputData) ? reportsToCarry(ctx.pool, body.results) : null;
      if (carried) {
        const reports = new Map(body.results.map((report) => [report.id, report]));
        const onCompleted = (rows: CompletedRow[]) => {
          ctx.metrics.recordEnded(rows.map((row) => endedAttemptOfRow(row, reports.get(Number(row.id))!)));
          ctx.notifications.publishActivity(new Set(rows.map((row) => Number(row.id))));
        };
        try {
          const claimed = await claimWithWait(ctx.pool, fork, ctx.notifications, workerId, body.max, body.wait_s, signal, countClaim, pauseFullRuns, { reports: carried, onCompleted });
          ctx.metrics.claimedRequests.inc(claimed.length);
          return { work_requests: claimed, results: body.results.map((report) => ({ id: report.id, status: 200 })) };
        } catch (error) {
          if (!(error instanceof CarriedReportsRefused)) throw error;
        }
      }
      // Applied (and committed) first, so the slots they free count in this claim.
      const results = await complete(workerId, body.results);
      // A refused result is answered at once (no long-poll): the worker sends it again, trimmed.
      const waitS = results.some((answer) => answer.status === 413) ? 0 : body.wait_s;
      const claimed = await claimWithWait(ctx.pool, fork, ctx.notifications, workerId, body.max, waitS, signal, countClaim, pauseFullRuns);
      ctx.metrics.claimedRequests.inc(claimed.length);
      return { work_requests: claimed, results };
    },

    completeBatch: async ({ body, req }) => {
      const workerId = workerIdOf(req);
      await storeCarriedLogs(workerId, body.results);
      return { results: await complete(workerId, body.results) };
    },

    listWorkers: async () => {
      const rows = await listWorkers(fork());
      return { workers: rows.map(({ worker, running }) => serializeWorker(worker, running)) };
    },

    disableWorker: async ({ params }) => {
      const { worker, running, requeued, aborted } = await setWorkerEnabled(fork(), params.name, false, policy);
      ctx.logger.info({ worker: worker.name, requeued, aborted }, 'worker disabled');
      return serializeWorker(worker, running);
    },

    enableWorker: async ({ params }) => {
      const { worker, running } = await setWorkerEnabled(fork(), params.name, true, policy);
      ctx.logger.info({ worker: worker.name }, 'worker enabled');
      return serializeWorker(worker, running);
    },
  };
}
