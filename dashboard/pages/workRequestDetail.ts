import { ApiError, apiGet, apiPost, withQuery, type ApiOffer } from '../api.js';
import { confirmAction } from '../confirm.js';
import { badge, h, keyValues, replaceChildren, table } from '../dom.js';
import { formatBytes, formatJson, formatSeconds, formatTime } from '../format.js';
import { logView } from '../logView.js';
import { link, type PageContext } from '../router.js';
import type { WorkRequest } from '../types.js';

const ENDED = new Set(['completed', 'aborted']);
const MAX_CHAIN = 20;

/** One work request: spec, requirements (explicit and learned, with reasons), state, output, attempt chain, live log; actions. */
export async function workRequestDetailPage({ root, rest, signal, offer }: PageContext): Promise<void> {
  const id = Number(rest[0]);
  if (!Number.isInteger(id) || id <= 0) throw new Error(`not a work request id: ${rest[0]}`);
  const [first, routes] = await Promise.all([apiGet<WorkRequest>(`/api/v1/work-requests/${id}`, signal), offer]);
  let request = first;
  const top = h('div', {});
  const message = h('p', { class: 'muted', role: 'status', 'data-message': '' });
  const details = h('div', {});
  const chain = h('div', {});
  const reload = async () => {
    request = await apiGet<WorkRequest>(`/api/v1/work-requests/${id}`, signal);
    render();
  };
  const render = () => {
    replaceChildren(top,
      h('h1', {}, `Work request ${request.id} `, badge(request.status), ' ', badge(request.result)),
      actions(request, routes, message, reload));
    replaceChildren(details, ...detailSections(request));
  };
  render();
  const log = logView(id, !ENDED.has(request.status), signal, () => void reload());
  replaceChildren(root, top, message, details, h('h2', {}, 'Attempts'), chain, h('h2', {}, 'Log'), log);
  void attemptChain(request, signal).then((rows) => replaceChildren(chain, rows), () => undefined);
  // Watch for changes of status (long-poll) while it has not ended.
  void (async () => {
    while (!signal.aborted && !ENDED.has(request.status)) {
      const next = await apiGet<WorkRequest>(withQuery(`/api/v1/work-requests/${id}`, { wait_s: 25, while_status: request.status }), signal);
      if (next.status !== request.status || next.result !== request.result) {
        request = next;
        render();
      }
    }
  })().catch(() => undefined);
}

function actions(request: WorkRequest, offer: ApiOffer, message: HTMLElement, reload: () => Promise<void>): HTMLElement {
  const run = async (question: string, action: () => Promise<unknown>, done: string) => {
    if (!(await confirmAction(question))) return;
    try {
      await action();
      message.textContent = done;
      await reload();
    } catch (error) {
      message.textContent = error instanceof ApiError ? `${error.code}: ${error.message}` : String(error);
    }
  };
  const bar = h('div', { class: 'actions' });
  if (!ENDED.has(request.status)) {
    bar.append(h('button', {
      type: 'button', 'data-action': 'cancel',
      onclick: () => void run(`Cancel work request ${request.id} (${request.task_name})?${request.status === 'running' ? ' Its worker will kill it.' : ''}`,
        () => apiPost(`/api/v1/work-requests/${request.id}/cancel`), `Work request ${request.id} cancelled.`),
    }, 'Cancel'));
  }
  const retry = offer.find('post', /^\/api\/v1\/work-requests\/\{id\}\/retry$/);
  if (retry && ENDED.has(request.status) && request.result !== 'success' && request.superseded_by === null) {
    bar.append(h('button', {
      type: 'button', 'data-action': 'retry',
      onclick: () => void run(`Retry work request ${request.id} as a new attempt?`, () => apiPost(retry.replace('{id}', String(request.id))), `A new attempt of ${request.id} was created.`),
    }, 'Retry'));
  }
  if (offer.has('post', '/api/v1/work-requests/{id}/priority') && !ENDED.has(request.status)) {
    const input = h('input', { type: 'number', value: request.priority_adjustment, min: -10000, max: 10000, step: 1, size: 6, 'aria-label': 'priority adjustment' });
    bar.append(h('label', {}, 'priority adjustment ', input), h('button', {
      type: 'button', 'data-action': 'priority',
      onclick: () => {
        const value = Number(input.value);
        void run(`Set the priority adjustment of ${request.id} to ${value}?`,
          () => apiPost(`/api/v1/work-requests/${request.id}/priority`, { priority_adjustment: value }), `Priority adjustment of ${request.id} set to ${value}.`);
      },
    }, 'Set'));
  }
  return bar;
}

function detailSections(request: WorkRequest): HTMLElement[] {
  const stats = request.output_data?.runtime_statistics ?? {};
  const statRows: Array<[string, string]> = Object.entries(stats).map(([name, value]) => [name, describeStatistic(name, value)]);
  const explicit = Object.entries(request.requirements).filter(([, value]) => value !== undefined && value !== null);
  return [
    h('div', { class: 'split' },
      h('div', {},
        h('h2', {}, 'State'),
        keyValues([
          ['task', request.task_name],
          ['subject / context', `${request.subject ?? '–'} / ${request.context ?? '–'}`],
          ['status', badge(request.status)],
          ['result', badge(request.result)],
          ['state reason', h('span', { 'data-field': 'state_reason' }, request.state_reason ?? '–')],
          ['worker', request.worker ? h('a', { href: link('requests', [], { worker: request.worker.name }) }, request.worker.name) : '–'],
          ['attempt', `${request.attempt} of ${request.max_attempts}`],
          ['priority', `${request.priority} + ${request.priority_adjustment}`],
          ['time limit', request.time_limit_s === null ? '–' : formatSeconds(request.time_limit_s)],
          ['interrupt allowed', String(request.interrupt_allowed)],
          ['created', formatTime(request.created_at)],
          ['started', formatTime(request.started_at)],
          ['completed', formatTime(request.completed_at)],
          ...(request.not_before ? [['not before', formatTime(request.not_before)] as [string, string]] : []),
          ...(request.workflow_id ? [['workflow', String(request.workflow_id)] as [string, string]] : []),
        ], { 'data-section': 'state' })),
      h('div', {},
        h('h2', {}, 'Runtime statistics'),
        statRows.length ? keyValues(statRows, { 'data-section': 'runtime-statistics' }) : h('p', { class: 'muted', 'data-section': 'runtime-statistics' }, 'None yet.'),
        ...(request.output_data?.errors?.length
          ? [h('h2', {}, 'Errors'), table([{ label: 'code' }, { label: 'message' }], request.output_data.errors.map((error) => [error.code, error.message]))]
          : []),
        ...(request.output_data?.skip_reason ? [h('h2', {}, 'Skip reason'), h('p', {}, request.output_data.skip_reason)] : []))),
    h('h2', {}, 'Requirements'),
    h('div', { class: 'split' },
      h('div', {}, h('h3', {}, 'Explicit (from the spec)'),
        explicit.length ? keyValues(explicit.map(([name, value]) => [name, describeRequirement(name, value)]), { 'data-section': 'explicit-requirements' }) : h('p', { class: 'muted' }, 'None.')),
      h('div', {}, h('h3', {}, 'Learned (from history)'),
        request.learned_requirements.length
          ? table([{ label: 'resource' }, { label: 'value' }, { label: 'reason' }],
              request.learned_requirements.map((item) => [item.resource, describeRequirement(item.resource, item.value), item.reason]), { 'data-section': 'learned-requirements' })
          : h('p', { class: 'muted' }, 'None: no successful run of this key yet, or the spec set every resource.'))),
    h('div', { class: 'split' },
      h('div', {}, h('h2', {}, 'Spec'), h('pre', { 'data-section': 'spec' }, formatJson({ execution: request.task_data.execution, use_history: request.task_data.use_history, user_metadata: request.user_metadata }))),
      h('div', {}, h('h2', {}, 'output_data'), h('pre', { 'data-section': 'output-data' }, formatJson(request.output_data)))),
  ];
}

function describeStatistic(name: string, value: unknown): string {
  if (typeof value !== 'number') return typeof value === 'string' ? value : JSON.stringify(value);
  if (/memory|disk_space/.test(name)) return `${formatBytes(value)} (${value} B)`;
  if (name.endsWith('_ms')) return `${formatSeconds(value / 1000)} (${value} ms)`;
  if (name === 'duration' || name === 'cpu_time') return `${formatSeconds(value)} (${value} s)`;
  return String(value);
}

function describeRequirement(name: string, value: unknown): string {
  if (typeof value === 'number' && (name === 'memory' || name === 'disk')) return formatBytes(value);
  if (typeof value === 'number' && name === 'time') return formatSeconds(value);
  return Array.isArray(value) ? value.join(', ') : String(value);
}

/** The chain of attempts this one belongs to (supersedes ← … → superseded_by), oldest first. */
async function attemptChain(request: WorkRequest, signal: AbortSignal): Promise<HTMLElement> {
  const chain: WorkRequest[] = [request];
  for (let back = request.supersedes; back !== null && chain.length < MAX_CHAIN; ) {
    const older = await apiGet<WorkRequest>(`/api/v1/work-requests/${back}`, signal);
    chain.unshift(older);
    back = older.supersedes;
  }
  for (let next = request.superseded_by; next !== null && chain.length < MAX_CHAIN; ) {
    const newer = await apiGet<WorkRequest>(`/api/v1/work-requests/${next}`, signal);
    chain.push(newer);
    next = newer.superseded_by;
  }
  return table(
    [{ label: 'attempt', num: true }, { label: 'id', num: true }, { label: 'status' }, { label: 'result' }, { label: 'worker' }, { label: 'why' }, { label: 'completed' }],
    chain.map((item) => [
      item.attempt,
      item.id === request.id ? h('strong', {}, String(item.id)) : h('a', { href: link('requests', [item.id]) }, String(item.id)),
      badge(item.status),
      badge(item.result),
      item.worker?.name ?? '',
      item.state_reason ?? '',
      formatTime(item.completed_at),
    ]),
    { 'data-table': 'attempts' },
  );
}
