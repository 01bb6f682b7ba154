import { apiGet, withQuery } from '../api.js';
import { lineChart } from '../charts.js';
import { badge, card, h, replaceChildren, table } from '../dom.js';
import { formatTime } from '../format.js';
import { every, link, type PageContext } from '../router.js';
import type { RunSpend, RunWorker, Workflow } from '../types.js';
import { counts } from './workflows.js';

/** A run is a workflow with a budget or one left open for tasks (`worksched run`). */
function isRun(workflow: Workflow): boolean {
  return workflow.budget !== null || workflow.open;
}

/** "10/h" → 10 per hour: the budget's amount and window. */
function budgetAmount(budget: string): { amount: number; window: string } | null {
  const match = /^([0-9]+(?:\.[0-9]+)?)\/(h|min)$/.exec(budget);
  return match ? { amount: Number(match[1]), window: match[2] === 'h' ? 'hour' : 'minute' } : null;
}

const money = (value: number | null | undefined) => (value === null || value === undefined ? '–' : value.toFixed(4));

/** Runs: the newest workflows that have a budget or are open. */
export async function runsPage({ root, signal }: PageContext): Promise<void> {
  const list = h('div', {});
  replaceChildren(root, h('h1', {}, 'Runs'), h('p', { class: 'hint' }, 'Workflows with a budget or open for more tasks, newest first.'), list);
  const load = async () => {
    const { workflows } = await apiGet<{ workflows: Workflow[] }>('/api/v1/workflows?limit=200', signal);
    const runs = workflows.filter(isRun);
    replaceChildren(
      list,
      runs.length === 0
        ? h('p', { class: 'muted' }, 'No run: start one with npx worksched run, or create a workflow with a budget or open: true.')
        : table(
            [{ label: 'run' }, { label: 'status' }, { label: 'tasks' }, { label: 'cost', num: true }, { label: 'budget' }, { label: 'spent in window', num: true }, { label: 'created' }],
            runs.map((run) => [
              h('a', { href: link('runs', [run.workflow_id]) }, run.workflow_id),
              badge(run.status.toLowerCase()),
              counts(run),
              money(run.cost),
              run.budget ?? 'none',
              money(run.budget_spent),
              formatTime(run.created_at),
            ]),
            { 'data-table': 'runs' },
          ),
    );
  };
  await load();
  every(5000, signal, load);
}

const SPEND_WINDOWS = ['10m', '1h', '6h', '24h', '7d'];

/** The spend plot: per step, what completed attempts cost and the spend over the budget's trailing window, with the budget's limit as a line. */
function spendChart(run: Workflow, spend: RunSpend): HTMLElement {
  const windowName = spend.budget_window_s === 60 ? 'minute' : 'hour';
  const stepName = spend.step_s % 3600 === 0 ? `${spend.step_s / 3600} h` : spend.step_s % 60 === 0 ? `${spend.step_s / 60} min` : `${spend.step_s} s`;
  return lineChart({
    title: `Spend over the last ${spend.window}`,
    testId: 'spend',
    x: spend.steps.map((step) => Date.parse(step.start) / 1000),
    series: [
      ...(spend.budget_limit === null ? [] : [{ label: `spent in the trailing ${windowName}`, values: spend.steps.map((step) => step.window_spend), color: '#2f5fd0', width: 2 }]),
      { label: `spent per ${stepName}`, values: spend.steps.map((step) => step.cost), color: '#12b76a' },
    ],
    lines: [{ label: `budget ${run.budget ?? ''}`, value: spend.budget_limit, color: '#f04438' }],
    formatY: (value) => value.toFixed(4),
  });
}

/** One run: spend so far and over time against its budget, and each worker's share (GET /workflows/:id/workers). */
export async function runDetailPage({ root, rest, params, signal }: PageContext): Promise<void> {
  const id = rest[0];
  const path = `/api/v1/workflows/${encodeURIComponent(id)}`;
  const body = h('div', {});
  replaceChildren(root, h('h1', {}, `Run ${id}`), h('p', {}, h('a', { href: link('workflows', [id]) }, 'Its workflow: graph and tasks')), body);
  const chosen = params.get('window') ?? '';
  const window = SPEND_WINDOWS.includes(chosen) ? chosen : '1h';
  const load = async () => {
    const [run, { workers }, spend] = await Promise.all([
      apiGet<Workflow>(path, signal),
      apiGet<{ workers: RunWorker[] }>(`${path}/workers`, signal),
      apiGet<RunSpend>(withQuery(`${path}/spend`, { window }), signal),
    ]);
    const budget = run.budget ? budgetAmount(run.budget) : null;
    const spent = run.budget_spent ?? 0;
    replaceChildren(
      body,
      h(
        'div',
        { class: 'cards' },
        card('status', run.status),
        card('cost so far', money(run.cost), { 'data-card': 'cost' }),
        card(budget ? `spent in the last ${budget.window}` : 'budget', budget ? `${money(spent)} / ${budget.amount}` : 'none', { 'data-card': 'budget' }),
        card('max cost per result', money(run.max_cost_per_result)),
      ),
      budget
        ? h(
            'p',
            { 'data-section': 'budget' },
            h('meter', { min: 0, max: budget.amount, high: budget.amount * 0.9, value: Math.min(spent, budget.amount) }),
            ` ${((100 * spent) / budget.amount).toFixed(0)} % of the ${run.budget} budget (on budget: ${run.on_budget})`,
            run.budget_reason ? h('span', { class: 'error' }, ` ${run.budget_reason}`) : '',
          )
        : null,
      h('h2', {}, 'Spend over time'),
      h('p', {}, 'Show the last', ...SPEND_WINDOWS.map((value) => h('a', { href: link('runs', [id], { window: value }), class: value === window ? 'current' : null }, ` [${value}]`)),
        h('span', { class: 'hint' }, ' (completed attempts; running ones count once they end)')),
      h('div', { class: 'charts' }, spendChart(run, spend)),
      h('h2', {}, 'Workers'),
      workers.length === 0
        ? h('p', { class: 'muted' }, 'No worker has run a task of this run yet.')
        : table(
            [{ label: 'worker' }, { label: 'status' }, { label: 'tasks', num: true }, { label: 'running', num: true }, { label: 'results', num: true }, { label: 'cost', num: true }, { label: 'cost / result', num: true }, { label: 'stop reason' }],
            workers.map((worker) => [
              h('a', { href: link('requests', [], { worker: worker.worker }) }, worker.worker),
              badge(worker.status),
              worker.tasks,
              worker.running,
              worker.results,
              money(worker.cost),
              money(worker.cost_per_result),
              worker.stop_reason ?? '',
            ]),
            { 'data-table': 'run-workers' },
          ),
    );
  };
  await load();
  every(5000, signal, load);
}
