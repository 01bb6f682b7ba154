import { schedulingPolicyOf } from '../history/schedulingPolicy';
import { workerIdOf, type Principal } from '../auth';
import type { ServerContext } from '../context';
import type { EndedAttempt } from '../metrics';
import { adjustPriority } from '../workRequests/adjustPriority';
import { cancelWorkRequest } from '../workRequests/cancelWorkRequest';
import { completeWorkRequest } from '../workRequests/completeWorkRequest';
import { createWorkRequest } from '../workRequests/createWorkRequest';
import { createWorkRequests } from '../workRequests/createWorkRequests';
import { rejectParametersFrom } from '../workRequests/rejectParametersFrom';
import { createSingleFileWorkflow, expandsRequiredFolder, findFolderFiles, rejectSingleFileTasks } from '../workRequests/expandRequiredFolder';
import { withFilePaths } from '../schedules/createFirings';
import { appendLogEntries, readLogEntries } from '../workRequests/logEntries';
import { getWorkRequest, listWorkRequests } from '../workRequests/queryWorkRequests';
import { checkOutputDataSize } from '../workRequests/outputDataLimit';
import { findEstimates } from '../workRequests/findEstimates';
import { withNotificationsAfterCommit } from '../workRequests/notifyChanges';
import { releaseWorkRequest } from '../workRequests/releaseWorkRequest';
import { retryWorkRequest } from '../workRequests/retryWorkRequest';
import { serializeWorkRequest } from '../workRequests/serializeWorkRequest';
import { clientGoneSignal } from './clientGoneSignal';
import { followLogEntries } from './followLogEntries';
import { waitForWorkRequestChange } from './waitForWorkRequestChange';
import { ANSWERED, type RouteHandlers } from './mountRoutes';

type WorkRequestRouteName =
  | 'createWorkRequest'
  | 'createWorkRequests'
  | 'listWorkRequests'
  | 'getWorkRequest'
  | 'cancelWorkRequest'
  | 'retryWorkRequest'
  | 'adjustPriority'
  | 'getLogs'
  | 'postLogs'
  | 'completeWorkRequest'
  | 'releaseWorkRequest';

/** /api/v1/work-requests: clients create and watch work; the assigned worker posts logs and the result. */
export function workRequestRoutes(ctx: ServerContext): Pick<RouteHandlers, WorkRequestRouteName> {
  const fork = () => ctx.orm.em.fork();
  const policy = schedulingPolicyOf(ctx.config);
  const who = (principal: Principal) => `${principal.role} token #${principal.tokenId}`;
  /** The worker and create paths NOTIFY after their commits, not inside them (see withNotificationsAfterCommit). */
  const afterCommit = <T>(work: () => Promise<T>) => withNotificationsAfterCommit(ctx.notifications, work);
  return {
    createWorkRequest: async ({ body, res }) => {
      rejectParametersFrom([body], () => '');
      if (expandsRequiredFolder(body)) {
        const files = await findFolderFiles(body, ctx.config.maxExpansion);
        if (body.single_file_task) {
          const expansion = await createSingleFileWorkflow(fork(), body, files, policy);
          res.location(`/api/v1/workflows/${expansion.workflow_id}`);
          return expansion;
        }
        body = withFilePaths(body, files);
      }
      const spec = body;
      const row = await afterCommit(() => createWorkRequest(ctx.pool, spec, policy));
      res.location(`/api/v1/work-requests/${row.id}`);
      return serializeWorkRequest(row, null);
    },

    createWorkRequests: async ({ body }) => {
      rejectParametersFrom(body.work_requests, (index) => `work_requests[${index}].`);
      rejectSingleFileTasks(body.work_requests);
      const rows = await afterCommit(() => createWorkRequests(ctx.pool, body.work_requests, policy));
      return { work_requests: rows.map((row) => serializeWorkRequest(row, null)) };
    },

    listWorkRequests: ({ query }) => listWorkRequests(ctx.pool, query),

    getWorkRequest: async ({ params, query, res }) => {
      if (query.wait_s) return waitForWorkRequestChange(ctx, params.id, query.while_status, query.wait_s * 1000, clientGoneSignal(res));
      const em = fork();
      const row = await getWorkRequest(em, params.id);
      return serializeWorkRequest(row, undefined, (await findEstimates(em, [row.id])).get(row.id));
    },

    cancelWorkRequest: async ({ params, principal }) => {
      const ended: EndedAttempt[] = [];
      const row = await cancelWorkRequest(fork(), params.id, who(principal), policy, ended);
      ctx.metrics.recordEnded(ended);
      return serializeWorkRequest(row);
    },

    retryWorkRequest: async ({ params, principal, res }) => {
      const retry = await retryWorkRequest(fork(), params.id, who(principal), policy);
      res.location(`/api/v1/work-requests/${retry.id}`);
      return serializeWorkRequest(retry, null);
    },

    adjustPriority: async ({ params, body, principal }) =>
      serializeWorkRequest(await adjustPriority(fork(), params.id, body.priority_adjustment, who(principal))),

    getLogs: async ({ params, query, res }) => {
      const request = await getWorkRequest(fork(), params.id);
      const afterSeq = query.after_seq ?? -1;
      if (query.follow) {
        await followLogEntries(ctx, res, params.id, afterSeq, clientGoneSignal(res));
        return ANSWERED;
      }
      const entries = await readLogEntries(fork(), params.id, afterSeq, query.limit ?? 100_000);
      return { entries, truncated: request.logTruncated };
    },

    postLogs: ({ params, body, req }) => afterCommit(() => appendLogEntries(fork(), params.id, workerIdOf(req), body.entries, ctx.config.logMaxBytes)),

    completeWorkRequest: async ({ params, body, req }) => {
      checkOutputDataSize([{ path: 'output_data', outputData: body.output_data }], ctx.config.maxOutputData);
      const { row, worker: assigned, ended } = await afterCommit(() => completeWorkRequest(fork(), ctx.pool, params.id, workerIdOf(req), body, policy));
      if (ended) ctx.metrics.recordEnded([ended]);
      return serializeWorkRequest(row, assigned);
    },

    releaseWorkRequest: async ({ params, body, req }) => {
      checkOutputDataSize([{ path: 'output_data', outputData: body.output_data }], ctx.config.maxOutputData);
      return serializeWorkRequest(await afterCommit(() => releaseWorkRequest(fork(), params.id, workerIdOf(req), body, policy)));
    },
  };
}
