import type { ServerContext } from '../context';
import { schedulingPolicyOf } from '../history/schedulingPolicy';
import { CoalescedReads } from '../statistics/coalescedReads';
import { TimelineCache, computeTimeline } from '../statistics/computeTimeline';
import { computeWorkerStatistics } from '../statistics/computeWorkerStatistics';
import { getTaskStatisticsDetail } from '../statistics/getTaskStatisticsDetail';
import { listTaskRuns } from '../statistics/listTaskRuns';
import { listTaskStatistics } from '../statistics/listTaskStatistics';
import { summarizeStatistics } from '../statistics/summarizeStatistics';
import type { RouteHandlers } from './mountRoutes';

/** /api/v1/statistics: history aggregates for operators (protocol/statistics.ts says what each figure is). */
export function statisticsRoutes(
  ctx: ServerContext,
): Pick<RouteHandlers, 'listTaskStatistics' | 'getTaskStatistics' | 'workerStatistics' | 'statisticsSummary' | 'statisticsTimeline' | 'taskRuns'> {
  const fork = () => ctx.orm.em.fork();
  const policy = schedulingPolicyOf(ctx.config);
  // The dashboard's overview polls these two every 5 s per tab; they read many rows and take no caller input but the window.
  const summaries = new CoalescedReads<Awaited<ReturnType<typeof summarizeStatistics>>>();
  const timelines = new CoalescedReads<Awaited<ReturnType<typeof computeTimeline>>>();
  const timelineCache = new TimelineCache();
  return {
    listTaskStatistics: ({ query }) => listTaskStatistics(fork(), query),
    getTaskStatistics: ({ params, query }) => getTaskStatisticsDetail(fork(), params.task_name, query.limit),
    workerStatistics: ({ query }) => computeWorkerStatistics(fork(), query.window),
    statisticsSummary: () => summaries.run('summary', () => summarizeStatistics(fork())),
    statisticsTimeline: ({ query }) => timelines.run(`${query.windowS}/${query.bucketS}`, () => computeTimeline(fork(), query, timelineCache)),
    taskRuns: ({ query }) => listTaskRuns(fork(), query, policy),
  };
}
