import { apiGet, withQuery } from '../api.js';
import { lineChart } from '../charts.js';
import { card, h, replaceChildren, table } from '../dom.js';
import { formatSeconds, formatTime } from '../format.js';
import { every, link, type PageContext } from '../router.js';
import type { Summary, Timeline, WorkRequest } from '../types.js';

const WINDOWS = { '1h': 'last hour', '24h': 'last day' } as const;
type WindowName = keyof typeof WINDOWS;

/** Overview: requests by status, unschedulable ones with their reasons, workers by state, completion and queue-wait charts. */
export async function overviewPage({ root, params, signal }: PageContext): Promise<void> {
  const windowName: WindowName = params.get('window') === '24h' ? '24h' : '1h';
  const cards = h('div', {});
  const unschedulable = h('div', {});
  const charts = h('div', { class: 'charts' });
  replaceChildren(
    root,
    h('h1', {}, 'Overview'),
    cards,
    h('h2', {}, 'Unschedulable requests'),
    unschedulable,
    h('h2', {}, 'Completions and queue wait, ', WINDOWS[windowName], ' ',
      h('span', { class: 'toggle' }, ...Object.entries(WINDOWS).map(([name, label]) =>
        h('a', { href: link('overview', [], { window: name }), class: name === windowName ? 'current' : null }, ` [${label}]`)))),
    charts,
  );
  const load = async () => {
    const [summary, stuck, timeline] = await Promise.all([
      apiGet<Summary>('/api/v1/statistics/summary', signal),
      apiGet<{ work_requests: WorkRequest[] }>(withQuery('/api/v1/work-requests', { status: 'pending', unschedulable: 'true', limit: 20 }), signal),
      apiGet<Timeline>(withQuery('/api/v1/statistics/timeline', { window: windowName }), signal),
    ]);
    const requests = summary.work_requests;
    replaceChildren(
      cards,
      h('div', { class: 'cards', 'data-section': 'requests-by-status' },
        ...Object.entries(requests.by_status).map(([status, count]) => card(status, count, { 'data-status': status })),
        card('unschedulable', requests.unschedulable, { 'data-status': 'unschedulable' }),
        card('total', requests.total)),
      h('h2', {}, 'Results'),
      h('div', { class: 'cards' }, ...Object.entries(requests.by_result).map(([result, count]) => card(result, count, { 'data-result': result }))),
      h('h2', {}, 'Workers'),
      h('div', { class: 'cards', 'data-section': 'workers-by-state' },
        ...Object.entries(summary.workers.by_state).map(([state, count]) => card(state, count, { 'data-state': state }))),
    );
    replaceChildren(
      unschedulable,
      stuck.work_requests.length === 0
        ? h('p', { class: 'muted' }, 'None: every pending request fits some enabled worker.')
        : table(
            [{ label: 'id' }, { label: 'task' }, { label: 'why it waits' }, { label: 'created' }],
            stuck.work_requests.map((request) => [
              h('a', { href: link('requests', [request.id]) }, String(request.id)),
              request.task_name,
              request.state_reason,
              formatTime(request.created_at),
            ]),
            { 'data-table': 'unschedulable' },
          ),
    );
    drawTimeline(charts, timeline);
  };
  await load();
  every(5000, signal, load);
}

function drawTimeline(charts: HTMLElement, timeline: Timeline): void {
  const x = timeline.buckets.map((bucket) => Date.parse(bucket.start) / 1000);
  const perMinute = 60 / timeline.bucket_s;
  const rate = (pick: (bucket: Timeline['buckets'][number]) => number) => timeline.buckets.map((bucket) => pick(bucket) * perMinute);
  const width = Math.max(480, Math.min(760, charts.clientWidth / 2 - 40));
  replaceChildren(
    charts,
    lineChart({
      title: 'Completions per minute',
      testId: 'completions',
      x,
      series: [
        { label: 'success', values: rate((bucket) => bucket.completed.success), color: '#12b76a' },
        { label: 'failure + error', values: rate((bucket) => bucket.completed.failure + bucket.completed.error), color: '#f04438' },
        { label: 'skipped', values: rate((bucket) => bucket.completed.skipped), color: '#f79009' },
        { label: 'aborted', values: rate((bucket) => bucket.completed.aborted), color: '#667085' },
      ],
      formatY: (value) => value.toFixed(value < 10 ? 1 : 0),
    }, width),
    lineChart({
      title: 'Queue wait (created → started)',
      testId: 'queue-wait',
      x,
      series: [
        { label: 'p50', values: timeline.buckets.map((bucket) => bucket.queue_wait_s.p50), color: '#2f5fd0' },
        { label: 'p95', values: timeline.buckets.map((bucket) => bucket.queue_wait_s.p95), color: '#7a5af8', dash: [4, 3] },
      ],
      formatY: formatSeconds,
      points: true,
    }, width),
  );
}
