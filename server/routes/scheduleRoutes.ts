import { API_ROUTES } from '../../protocol/routes';
import type { ServerContext } from '../context';
import { schedulingPolicyOf } from '../history/schedulingPolicy';
import { createSchedule, deleteSchedule, findSchedule, listSchedules, setScheduleEnabled } from '../schedules/manageSchedules';
import { serializeSchedules } from '../schedules/serializeSchedule';
import { triggerSchedule } from '../schedules/triggerSchedule';
import { ANSWERED, type RouteHandlers } from './mountRoutes';

type ScheduleRouteName = 'createSchedule' | 'listSchedules' | 'getSchedule' | 'pauseSchedule' | 'resumeSchedule' | 'triggerSchedule' | 'deleteSchedule';

/** /api/v1/schedules: recurring and file-driven work (DESIGN.md "Schedules and triggers"). */
export function scheduleRoutes(ctx: ServerContext): Pick<RouteHandlers, ScheduleRouteName> {
  const fork = () => ctx.orm.em.fork();
  const policy = schedulingPolicyOf(ctx.config);
  const one = async (row: Parameters<typeof serializeSchedules>[1][number]) => (await serializeSchedules(ctx.pool, [row]))[0];
  return {
    createSchedule: async ({ body, res }) => {
      const { row, created } = await createSchedule(fork(), body);
      res.location(`/api/v1/schedules/${row.name}`);
      if (created) return one(row);
      // The existing schedule: 200, which mountRoutes cannot tell from "unset" (it would send the route's 201).
      const answer = await one(row);
      if (ctx.config.validateResponses) API_ROUTES.createSchedule.response.parse(answer);
      res.status(200).json(answer);
      return ANSWERED;
    },

    listSchedules: async ({ query }) => ({ schedules: await serializeSchedules(ctx.pool, await listSchedules(fork(), query)) }),

    getSchedule: async ({ params }) => one(await findSchedule(fork(), params.name)),

    pauseSchedule: async ({ params }) => one(await setScheduleEnabled(fork(), params.name, false)),

    resumeSchedule: async ({ params }) => one(await setScheduleEnabled(fork(), params.name, true)),

    triggerSchedule: async ({ params }) => {
      const row = await findSchedule(fork(), params.name);
      return { schedule: row.name, firings: await triggerSchedule(ctx.pool, fork(), { policy, maxExpansion: ctx.config.maxExpansion }, row) };
    },

    deleteSchedule: async ({ params, res }) => {
      await deleteSchedule(fork(), params.name);
      res.status(204).end();
      return ANSWERED;
    },
  };
}
