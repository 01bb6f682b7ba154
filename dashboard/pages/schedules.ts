import { ApiError, apiGet, apiPost } from '../api.js';
import { confirmAction } from '../confirm.js';
import { badge, h, replaceChildren, table } from '../dom.js';
import { formatTime } from '../format.js';
import { every, link, type PageContext } from '../router.js';
import type { Schedule } from '../types.js';

function describeTrigger(schedule: Schedule): string {
  const trigger = schedule.trigger;
  if ('cron' in trigger) return `cron ${trigger.cron} (${trigger.timezone})`;
  if ('every' in trigger) return `every ${trigger.every}`;
  return `files in ${trigger.files.folder}${trigger.files.expression ? ` matching ${trigger.files.expression}` : ''}, ${trigger.files.batch_size} a firing`;
}

/** Schedules: trigger, next fire times, last firing and its work, pause/resume/trigger (asked first). */
export async function schedulesPage({ root, signal }: PageContext): Promise<void> {
  const message = h('p', { class: 'muted', role: 'status', 'data-message': '' });
  const list = h('div', {});
  replaceChildren(root, h('h1', {}, 'Schedules'), message, list);
  const act = async (schedule: Schedule, verb: 'pause' | 'resume' | 'trigger', question: string) => {
    if (!(await confirmAction(question))) return;
    try {
      await apiPost(`/api/v1/schedules/${encodeURIComponent(schedule.name)}/${verb}`);
      message.textContent = `Schedule ${schedule.name}: ${verb === 'trigger' ? 'fired now' : verb === 'pause' ? 'paused' : 'resumed'}.`;
    } catch (error) {
      message.textContent = error instanceof ApiError ? `${error.code}: ${error.message}` : String(error);
    }
    await load();
  };
  const load = async () => {
    const { schedules } = await apiGet<{ schedules: Schedule[] }>('/api/v1/schedules', signal);
    replaceChildren(
      list,
      schedules.length === 0
        ? h('p', { class: 'muted' }, 'No schedule: create one with POST /api/v1/schedules.')
        : table(
            [{ label: 'name' }, { label: 'trigger' }, { label: 'state' }, { label: 'next fire times' }, { label: 'last firing' }, { label: 'firings', num: true }, { label: 'skipped', num: true }, { label: '' }],
            schedules.map((schedule) => {
              const last = schedule.last_firing;
              return [
                schedule.name,
                describeTrigger(schedule),
                h('span', {}, badge(schedule.enabled ? 'enabled' : 'paused'), schedule.last_error ? h('span', { class: 'error' }, ` ${schedule.last_error}`) : ''),
                schedule.next_fire_times.length
                  ? h('ul', { class: 'plain', 'data-next-fire-times': schedule.name }, ...schedule.next_fire_times.map((time) => h('li', {}, formatTime(time))))
                  : schedule.pending_files !== null ? `${schedule.pending_files} file(s) waiting` : '–',
                last
                  ? h('span', { 'data-last-firing': schedule.name }, formatTime(last.fire_time), ` (${last.reason}) `,
                      last.work_request_id !== null ? h('a', { href: link('requests', [last.work_request_id]) }, `#${last.work_request_id}`) : '', ' ',
                      badge(last.result ?? last.status))
                  : 'never',
                schedule.firings_count,
                schedule.skipped_count,
                h(
                  'span',
                  { class: 'actions' },
                  schedule.enabled
                    ? h('button', { type: 'button', 'data-action': 'pause', onclick: () => void act(schedule, 'pause', `Pause schedule ${schedule.name}? It fires no more until resumed.`) }, 'Pause')
                    : h('button', { type: 'button', 'data-action': 'resume', onclick: () => void act(schedule, 'resume', `Resume schedule ${schedule.name}? It fires from its next fire time; times missed while paused are not caught up.`) }, 'Resume'),
                  h('button', { type: 'button', 'data-action': 'trigger', onclick: () => void act(schedule, 'trigger', `Fire schedule ${schedule.name} now?`) }, 'Fire now'),
                ),
              ];
            }),
            { 'data-table': 'schedules' },
          ),
    );
  };
  await load();
  every(5000, signal, load);
}
