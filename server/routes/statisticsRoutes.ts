import { Router } from 'express';
import {
  taskStatisticsDetailQuerySchema,
  taskStatisticsPathSchema,
  taskStatisticsQuerySchema,
  workerStatisticsQuerySchema,
  type StatisticsSummary,
  type TaskStatisticsDetail,
  type TaskStatisticsList,
  type WorkerStatisticsList,
} from '../../protocol/statistics';
import { ROLES, requireRole } from '../auth';
import type { ServerContext } from '../context';
import { parseInput } from '../errors';
import { computeWorkerStatistics } from '../statistics/computeWorkerStatistics';
import { getTaskStatisticsDetail } from '../statistics/getTaskStatisticsDetail';
import { listTaskStatistics } from '../statistics/listTaskStatistics';
import { summarizeStatistics } from '../statistics/summarizeStatistics';
import { asyncRoute } from './asyncRoute';

/** /api/v1/statistics: history aggregates for operators (protocol/statistics.ts says what each figure is). */
export function statisticsRoutes(ctx: ServerContext): Router {
  const router = Router();
  const fork = () => ctx.orm.em.fork();
  const operator = requireRole(ctx.authenticator, ROLES.operator);

  router.get(
    '/tasks',
    operator,
    asyncRoute(async (req, res) => {
      const query = parseInput(taskStatisticsQuerySchema, req.query, 'query');
      const answer: TaskStatisticsList = await listTaskStatistics(fork(), query);
      res.json(answer);
    }),
  );

  // Task names may contain "/": taken whole from the rest of the path (raw or as %2F).
  router.get(
    '/tasks/*task_name',
    operator,
    asyncRoute(async (req, res) => {
      const raw: unknown = req.params.task_name;
      const { task_name: taskName } = parseInput(taskStatisticsPathSchema, { task_name: Array.isArray(raw) ? raw.join('/') : raw }, 'path');
      const query = parseInput(taskStatisticsDetailQuerySchema, req.query, 'query');
      const answer: TaskStatisticsDetail = await getTaskStatisticsDetail(fork(), taskName, query.limit);
      res.json(answer);
    }),
  );

  router.get(
    '/workers',
    operator,
    asyncRoute(async (req, res) => {
      const query = parseInput(workerStatisticsQuerySchema, req.query, 'query');
      const answer: WorkerStatisticsList = await computeWorkerStatistics(fork(), query.window);
      res.json(answer);
    }),
  );

  router.get(
    '/summary',
    operator,
    asyncRoute(async (_req, res) => {
      const answer: StatisticsSummary = await summarizeStatistics(fork());
      res.json(answer);
    }),
  );

  return router;
}
