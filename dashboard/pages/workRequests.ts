import { apiGet, withQuery } from '../api.js';
import { badge, h, replaceChildren, table } from '../dom.js';
import { formatTime } from '../format.js';
import { every, link, type PageContext } from '../router.js';
import type { WorkRequest } from '../types.js';

const STATUSES = ['', 'blocked', 'pending', 'running', 'completed', 'aborted'];
const RESULTS = ['', 'success', 'failure', 'error', 'skipped'];
/** The list filters of GET /api/v1/work-requests the page offers, in the order of the form. */
const TEXT_FILTERS = ['task_name', 'subject', 'context', 'worker', 'workflow'] as const;
const PAGE_SIZE = 50;

/** Work requests: filters in the page's hash (so a view can be shared), newest first, cursor pages. */
export async function workRequestsPage({ root, params, signal }: PageContext): Promise<void> {
  const filters: Record<string, string | undefined> = {};
  for (const name of ['status', 'result', ...TEXT_FILTERS]) filters[name] = params.get(name) || undefined;
  const cursors = (params.get('cursors') ?? '').split(' ').filter(Boolean);
  const select = (name: string, options: string[]) =>
    h('label', {}, name, h('select', { name }, ...options.map((option) => h('option', { value: option, selected: filters[name] === option || (!filters[name] && option === '') }, option || 'any'))));
  const form = h(
    'form',
    { class: 'filters', 'data-form': 'filters' },
    select('status', STATUSES),
    select('result', RESULTS),
    ...TEXT_FILTERS.map((name) => h('label', {}, name.replace('_', ' '), h('input', { name, value: filters[name] ?? '', size: 14 }))),
    h('button', { type: 'submit' }, 'Apply'),
    h('a', { href: link('requests') }, 'clear'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const next: Record<string, string | undefined> = {};
    for (const [name, value] of data.entries()) if (typeof value === 'string' && value.trim()) next[name] = value.trim();
    location.hash = link('requests', [], next);
  });
  const list = h('div', {});
  replaceChildren(root, h('h1', {}, 'Work requests'), form, list);

  const load = async () => {
    const answer = await apiGet<{ work_requests: WorkRequest[]; next_cursor: string | null }>(
      withQuery('/api/v1/work-requests', { ...filters, limit: PAGE_SIZE, cursor: cursors[cursors.length - 1] }),
      signal,
    );
    const pageLink = (stack: string[]) => link('requests', [], { ...filters, cursors: stack.length ? stack.join(' ') : undefined });
    replaceChildren(
      list,
      answer.work_requests.length === 0
        ? h('p', { class: 'muted' }, 'No work request matches.')
        : table(
            [{ label: 'id', num: true }, { label: 'task' }, { label: 'subject' }, { label: 'context' }, { label: 'status' }, { label: 'result' }, { label: 'worker' }, { label: 'attempt', num: true }, { label: 'created' }, { label: 'why' }],
            answer.work_requests.map((request) => [
              h('a', { href: link('requests', [request.id]) }, String(request.id)),
              request.task_name,
              request.subject ?? '',
              request.context ?? '',
              badge(request.status),
              badge(request.result),
              request.worker?.name ?? '',
              `${request.attempt}/${request.max_attempts}`,
              formatTime(request.created_at),
              request.state_reason ?? '',
            ]),
            { 'data-table': 'work-requests' },
          ),
      h('div', { class: 'pager' },
        cursors.length > 0 ? h('a', { href: pageLink([]) }, '« newest') : null,
        cursors.length > 0 ? h('a', { href: pageLink(cursors.slice(0, -1)) }, '‹ newer') : null,
        h('span', { class: 'muted' }, `page ${cursors.length + 1}`),
        answer.next_cursor ? h('a', { href: pageLink([...cursors, answer.next_cursor]), 'data-link': 'older' }, 'older ›') : null),
    );
  };
  await load();
  every(5000, signal, load);
}
