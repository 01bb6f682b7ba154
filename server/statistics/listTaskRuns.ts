import type { EntityManager } from '@mikro-orm/postgresql';
import type { TaskRuns, TaskRunsQuery } from '../../protocol/statisticsSeries';
import { learnRequirements } from '../history/learnRequirements';
import type { SchedulingPolicy } from '../history/schedulingPolicy';
import { listRecentRuns, runsFilterSql } from './listRecentRuns';

interface PercentileRow {
  sampled_runs: string;
  duration_ms_p: Array<number | null> | null;
  cpu_time_ms_p: Array<number | null> | null;
  memory_p: Array<number | null> | null;
  disk_space_p: Array<number | null> | null;
}

/**
 * GET /statistics/runs: a key's newest runs (for plots), p50/p95 of its retained successful runs (the lines on
 * those plots) and what the scheduler would learn for a new request of the key now (learnRequirements, with the
 * server's headroom and sample size, and no explicit requirements).
 */
export async function listTaskRuns(em: EntityManager, query: TaskRunsQuery, policy: SchedulingPolicy): Promise<TaskRuns> {
  const filter = { subject: query.subject, context: query.context };
  const { where, values } = runsFilterSql(query.task_name, filter);
  const [runs, percentileRows, learned] = await Promise.all([
    listRecentRuns(em, query.task_name, query.limit, filter),
    em.execute<PercentileRow[]>(
      `select count(*) as sampled_runs,
         percentile_cont(array[0.5, 0.95]) within group (order by h.duration_ms) as duration_ms_p,
         percentile_cont(array[0.5, 0.95]) within group (order by h.cpu_time_ms) as cpu_time_ms_p,
         percentile_cont(array[0.5, 0.95]) within group (order by h.memory) as memory_p,
         percentile_cont(array[0.5, 0.95]) within group (order by h.disk_space) as disk_space_p
       from task_history h where ${where} and h.result = 'success'`,
      values,
    ),
    learnRequirements(em, { taskName: query.task_name, subject: query.subject ?? '', context: query.context ?? '' }, {}, policy),
  ]);
  const row = percentileRows[0];
  const pair = (value: Array<number | null> | null, scale: (n: number) => number) => ({
    p50: value?.[0] == null ? null : scale(Number(value[0])),
    p95: value?.[1] == null ? null : scale(Number(value[1])),
  });
  const seconds = (ms: number) => ms / 1000;
  return {
    task_name: query.task_name,
    subject: query.subject ?? null,
    context: query.context ?? null,
    runs,
    success_percentiles: {
      sampled_runs: Number(row?.sampled_runs ?? 0),
      duration_s: pair(row?.duration_ms_p ?? null, seconds),
      cpu_time_s: pair(row?.cpu_time_ms_p ?? null, seconds),
      memory: pair(row?.memory_p ?? null, Math.round),
      disk_space: pair(row?.disk_space_p ?? null, Math.round),
    },
    learned_requirements: learned.learned,
  };
}
