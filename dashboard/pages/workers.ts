import { ApiError, apiGet, apiPost, type ApiOffer } from '../api.js';
import { confirmAction } from '../confirm.js';
import { badge, h, replaceChildren, table } from '../dom.js';
import { formatBytes, formatPercent, formatSeconds, formatTime } from '../format.js';
import { every, link, type PageContext } from '../router.js';
import type { Worker, WorkerStatistics } from '../types.js';

/** An enable or disable route of this server, if it has one: the path and whether it names the worker by id or name. */
function switchRoute(offer: ApiOffer, action: 'enable' | 'disable'): ((worker: Worker) => string) | null {
  const path = offer.find('post', new RegExp(`^/api/v1/workers/\\{(id|name)\\}/${action}$`));
  if (!path) return null;
  return (worker) => path.replace(/\{(id|name)\}/, (_match, param: string) => encodeURIComponent(param === 'id' ? String(worker.id) : worker.name));
}

/** Workers: resources, running, utilisation over 24 h, last seen; enable/disable where the API offers it. */
export async function workersPage({ root, signal, offer }: PageContext): Promise<void> {
  const message = h('p', { class: 'muted', role: 'status' });
  const list = h('div', {});
  replaceChildren(root, h('h1', {}, 'Workers'), message, list);
  const routes = await offer;
  const enable = switchRoute(routes, 'enable');
  const disable = switchRoute(routes, 'disable');
  const load = async () => {
    const [{ workers }, statistics] = await Promise.all([
      apiGet<{ workers: Worker[] }>('/api/v1/workers', signal),
      apiGet<{ workers: WorkerStatistics[] }>('/api/v1/statistics/workers?window=24h', signal),
    ]);
    const byId = new Map(statistics.workers.map((item) => [item.id, item]));
    const toggle = (worker: Worker) => {
      const disabled = worker.state === 'disabled';
      const route = disabled ? enable : disable;
      if (!route) return '';
      const verb = disabled ? 'Enable' : 'Disable';
      return h('button', {
        type: 'button', 'data-action': verb.toLowerCase(),
        onclick: () => void (async () => {
          const question = disabled ? `Enable worker ${worker.name}? It will claim work again.` : `Disable worker ${worker.name}? It claims no new work; running tasks finish.`;
          if (!(await confirmAction(question))) return;
          try {
            await apiPost(route(worker));
            message.textContent = `Worker ${worker.name} ${disabled ? 'enabled' : 'disabled'}.`;
          } catch (error) {
            message.textContent = error instanceof ApiError ? `${error.code}: ${error.message}` : String(error);
          }
          await load();
        })(),
      }, verb);
    };
    replaceChildren(
      list,
      workers.length === 0
        ? h('p', { class: 'muted' }, 'No worker has registered yet: start one with npx worksched worker --server URL.')
        : table(
            [
              { label: 'name' }, { label: 'state' }, { label: 'cpus', num: true }, { label: 'memory (free / total)' }, { label: 'free disk' },
              { label: 'os / arch' }, { label: 'tags' }, { label: 'running', num: true }, { label: 'runs 24h', num: true }, { label: 'failures 24h', num: true },
              { label: 'busy 24h', num: true }, { label: 'utilisation 24h', num: true }, { label: 'last seen' }, { label: '' },
            ],
            workers.map((worker) => {
              const stats = byId.get(worker.id);
              return [
                h('a', { href: link('requests', [], { worker: worker.name }) }, worker.name),
                badge(worker.state),
                worker.resources.cpu_count,
                `${formatBytes(worker.resources.available_memory)} / ${formatBytes(worker.resources.total_memory)}`,
                formatBytes(worker.resources.available_disk_space),
                [worker.resources.os, worker.resources.architecture].filter(Boolean).join(' / '),
                worker.tags.join(', '),
                `${worker.running}/${worker.concurrency}`,
                stats?.runs ?? 0,
                stats?.failures ?? 0,
                formatSeconds(stats?.busy_time_s ?? 0),
                formatPercent(stats?.utilisation ?? 0),
                formatTime(worker.last_seen_at),
                toggle(worker),
              ];
            }),
            { 'data-table': 'workers' },
          ),
      enable || disable ? null : h('p', { class: 'hint' }, 'This server offers no enable/disable route.'),
    );
  };
  await load();
  every(5000, signal, load);
}
