import { apiGet, withQuery } from '../api.js';
import { h, replaceChildren, table } from '../dom.js';
import { formatBytes, formatPercent, formatSeconds, formatTime } from '../format.js';
import { link, type PageContext } from '../router.js';
import type { TaskStatistics } from '../types.js';

/** The sorts GET /api/v1/statistics/tasks offers, by column: the first click sorts one way, the next the other. */
const SORTS: Record<string, [string, string]> = {
  task: ['task_name', 'task_name'],
  runs: ['-runs', 'runs'],
  failures: ['-failures', '-failures'],
  'success rate': ['success_rate', '-success_rate'],
  'last run': ['-last_run_at', '-last_run_at'],
};

/** Tasks: per history key, counters and percentiles of the successful runs; sortable by the server; each key links to its plots. */
export async function tasksPage({ root, params, signal }: PageContext): Promise<void> {
  const sort = params.get('sort') ?? 'task_name';
  const prefix = params.get('prefix') ?? '';
  const cursors = (params.get('cursors') ?? '').split(' ').filter(Boolean);
  const answer = await apiGet<{ tasks: TaskStatistics[]; next_cursor: string | null }>(
    withQuery('/api/v1/statistics/tasks', { sort, limit: 100, task_name_prefix: prefix || undefined, cursor: cursors[cursors.length - 1] }),
    signal,
  );
  const header = (label: string) => {
    const choice = SORTS[label];
    if (!choice) return { label, num: label !== 'task' };
    const next = sort === choice[0] ? choice[1] : choice[0];
    const arrow = sort === choice[0] || sort === choice[1] ? (sort.startsWith('-') ? ' ▼' : ' ▲') : '';
    return { label: h('a', { href: link('tasks', [], { sort: next, prefix: prefix || undefined }), 'data-sort': next }, label + arrow), num: label !== 'task' };
  };
  const search = h('form', { class: 'filters' }, h('label', {}, 'task name starts with', h('input', { name: 'prefix', value: prefix })), h('button', { type: 'submit' }, 'Filter'));
  search.addEventListener('submit', (event) => {
    event.preventDefault();
    const entry = new FormData(search).get('prefix');
    const value = typeof entry === 'string' ? entry.trim() : '';
    location.hash = link('tasks', [], { sort, prefix: value || undefined });
  });
  const pageLink = (stack: string[]) => link('tasks', [], { sort, prefix: prefix || undefined, cursors: stack.length ? stack.join(' ') : undefined });
  replaceChildren(
    root,
    h('h1', {}, 'Tasks'),
    h('p', { class: 'muted' }, 'Counters are all-time; percentiles are over the retained history of successful runs.'),
    search,
    answer.tasks.length === 0
      ? h('p', { class: 'muted' }, 'No task has history yet.')
      : table(
          ['task', 'subject', 'context', 'runs', 'successes', 'failures', 'success rate', 'duration p50 / p95', 'cpu time p50 / p95', 'memory p50 / p95 / max', 'disk p95', 'last run'].map((label) =>
            label === 'subject' || label === 'context' ? { label } : header(label)),
          answer.tasks.map((key) => [
            h('a', { href: link('tasks', ['key'], { task_name: key.task_name, subject: key.subject ?? '', context: key.context ?? '' }) }, key.task_name),
            key.subject ?? '',
            key.context ?? '',
            key.runs,
            key.successes,
            key.failures,
            formatPercent(key.success_rate),
            `${formatSeconds(key.duration.p50)} / ${formatSeconds(key.duration.p95)}`,
            `${formatSeconds(key.cpu_time.p50)} / ${formatSeconds(key.cpu_time.p95)}`,
            `${formatBytes(key.memory.p50)} / ${formatBytes(key.memory.p95)} / ${formatBytes(key.memory.max)}`,
            formatBytes(key.disk_space.p95),
            formatTime(key.last_run_at),
          ]),
          { 'data-table': 'tasks' },
        ),
    h('div', { class: 'pager' },
      cursors.length > 0 ? h('a', { href: pageLink([]) }, '« first') : null,
      answer.next_cursor ? h('a', { href: pageLink([...cursors, answer.next_cursor]) }, 'next ›') : null),
  );
}
