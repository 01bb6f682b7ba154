import { apiGet, withQuery } from '../api.js';
import { lineChart, type ChartSeries } from '../charts.js';
import { badge, h, keyValues, replaceChildren, table } from '../dom.js';
import { formatBytes, formatSeconds, formatTime } from '../format.js';
import { link, type PageContext } from '../router.js';
import type { Run, TaskRuns } from '../types.js';

const LIMITS = [50, 200, 1000];

/**
 * One history key (task name, and subject / context when given; '' is "none"): plots of duration, cpu time,
 * memory and disk of its recent runs, oldest to newest, with the p50/p95 of its successful runs as lines,
 * failed runs as red points, and the memory the scheduler would now require drawn on the memory plot.
 */
export async function taskKeyPage({ root, params, signal }: PageContext): Promise<void> {
  const taskName = params.get('task_name');
  if (!taskName) throw new Error('no task_name in the address');
  const subject = params.get('subject') ?? undefined;
  const context = params.get('context') ?? undefined;
  const limit = Number(params.get('limit') ?? 200);
  const answer = await apiGet<TaskRuns>(withQuery('/api/v1/statistics/runs', { task_name: taskName, subject, context, limit }), signal);
  const runs = [...answer.runs].reverse();
  const x = runs.map((run) => Date.parse(run.completed_at) / 1000);
  const split = (pick: (run: Run) => number | null): ChartSeries[] => [
    { label: 'successful runs', values: runs.map((run) => (run.result === 'success' ? pick(run) : null)), color: '#2f5fd0' },
    { label: 'failed runs', values: runs.map((run) => (run.result === 'success' ? null : (pick(run) ?? 0))), color: '#f04438', pointsOnly: true },
  ];
  const p = answer.success_percentiles;
  const learnedMemory = answer.learned_requirements.find((item) => item.resource === 'memory');
  const keyLabel = [taskName, subject === undefined ? '(any subject)' : subject || '(no subject)', context === undefined ? '(any context)' : context || '(no context)'].join(' / ');
  const keep = { task_name: taskName, subject, context };
  // A marker per run while they can be told apart; beyond that the line alone (failures keep their red points).
  const points = runs.length <= 200;
  replaceChildren(
    root,
    h('h1', {}, 'Task ', keyLabel),
    h('p', {},
      `${runs.length} most recent runs (${runs.filter((run) => run.result !== 'success').length} not successful); percentiles over ${p.sampled_runs} retained successful runs. Show `,
      ...LIMITS.map((value) => h('a', { href: link('tasks', ['key'], { ...keep, limit: value }), class: value === limit ? 'current' : null }, ` [${value}]`)),
      ' · ',
      h('a', { href: link('requests', [], { task_name: taskName, subject: subject || undefined, context: context || undefined }) }, 'its work requests')),
    h('div', { class: 'charts' },
      lineChart({ title: 'Duration', testId: 'duration', x, series: split((run) => run.duration_s), formatY: formatSeconds, points,
        lines: [{ label: 'p50', value: p.duration_s.p50, color: '#12b76a' }, { label: 'p95', value: p.duration_s.p95, color: '#f79009' }] }),
      lineChart({ title: 'CPU time', testId: 'cpu-time', x, series: split((run) => run.cpu_time_s), formatY: formatSeconds, points,
        lines: [{ label: 'p50', value: p.cpu_time_s.p50, color: '#12b76a' }, { label: 'p95', value: p.cpu_time_s.p95, color: '#f79009' }] }),
      lineChart({ title: 'Memory (peak)', testId: 'memory', x, series: split((run) => run.memory), formatY: formatBytes, points,
        lines: [
          { label: 'p50', value: p.memory.p50, color: '#12b76a' },
          { label: 'p95', value: p.memory.p95, color: '#f79009' },
          { label: 'learned requirement', value: learnedMemory?.value ?? null, color: '#b42318', dash: [2, 2] },
        ] }),
      lineChart({ title: 'Disk (peak of the working directory)', testId: 'disk', x, series: split((run) => run.disk_space), formatY: formatBytes, points,
        lines: [{ label: 'p50', value: p.disk_space.p50, color: '#12b76a' }, { label: 'p95', value: p.disk_space.p95, color: '#f79009' }] })),
    h('h2', {}, 'What the scheduler learns for this key now'),
    answer.learned_requirements.length
      ? keyValues(answer.learned_requirements.map((item) => [item.resource, item.reason]), { 'data-section': 'learned' })
      : h('p', { class: 'muted' }, 'Nothing yet: no successful run of this key.'),
    h('h2', {}, 'Newest runs'),
    table(
      [{ label: 'completed' }, { label: 'request', num: true }, { label: 'subject' }, { label: 'context' }, { label: 'attempt', num: true }, { label: 'result' }, { label: 'error' }, { label: 'worker' },
        { label: 'duration', num: true }, { label: 'cpu time', num: true }, { label: 'memory', num: true }, { label: 'disk', num: true }],
      answer.runs.slice(0, 20).map((run) => [
        formatTime(run.completed_at),
        run.work_request_id === null ? '' : h('a', { href: link('requests', [run.work_request_id]) }, String(run.work_request_id)),
        run.subject ?? '', run.context ?? '', run.attempt, badge(run.result), run.error_code ?? '', run.worker_name ?? '',
        formatSeconds(run.duration_s), formatSeconds(run.cpu_time_s), formatBytes(run.memory), formatBytes(run.disk_space),
      ]),
      { 'data-table': 'runs' },
    ),
  );
}
