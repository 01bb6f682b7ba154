import type { WorkschedClient } from '../client';
import { sleep } from '../common/sleep';
import type { LiveView } from './liveView';
import { formatCost } from '../common/formatCost';
import type { RunWorker } from '../protocol/runs';
import type { Workflow } from '../protocol/workflow';
import { renderTable, type Column } from './table';

/** A run as `show --run` and `summary` show it: the workflow and its workers' rows. */
export interface RunState {
  run: Workflow;
  workers: RunWorker[];
}

/** The run `runId`, or the most recent one (null: there is none). */
export async function loadRunState(client: WorkschedClient, runId: string | undefined): Promise<RunState | null> {
  let id = runId;
  if (id === undefined) {
    const newest = await client.listWorkflows({ limit: 1 });
    if (newest.workflows.length === 0) return null;
    id = newest.workflows[0].workflow_id;
  }
  const [run, workers] = await Promise.all([client.getWorkflow(id), client.getRunWorkers(id)]);
  return { run, workers: workers.workers };
}

const WORKER_COLUMNS: Column[] = [
  { head: 'ix' },
  { head: 'worker', shrinkTo: 10 },
  { head: 'status' },
  { head: 'tasks' },
  { head: 'cost' },
  { head: 'cost/result' },
  { head: 'results' },
  { head: 'stop_reason', shrinkTo: 12 },
];

/** `show --run`: one row per worker in the run (Golem's `show`). */
export function renderRunWorkers(state: RunState, width?: number | null): string {
  if (state.workers.length === 0) return `run ${state.run.workflow_id}: no worker has taken any of its tasks yet\n`;
  const rows = state.workers.map((row, index) => [
    index,
    row.worker,
    row.status,
    row.running > 0 ? `${row.tasks} (+${row.running} running)` : row.tasks,
    formatCost(row.cost),
    formatCost(row.cost_per_result),
    row.results,
    row.stop_reason ?? '',
  ]);
  return `${renderTable(WORKER_COLUMNS, rows, { width })}\n`;
}

const SUMMARY_COLUMNS: Column[] = [
  { head: 'run_id', shrinkTo: 10 },
  { head: 'workers ready/busy/stopped' },
  { head: 'tasks done/running/queued' },
  { head: 'cost' },
  { head: 'cost/result' },
  { head: 'results' },
  { head: 'budget used', shrinkTo: 10, dropRank: 1 },
];

/** `summary --run`: the run in one row (Golem's `summary`). */
export function renderRunSummary(state: RunState, width?: number | null): string {
  const { run, workers } = state;
  const count = (status: RunWorker['status']) => workers.filter((row) => row.status === status).length;
  const results = workers.reduce((sum, row) => sum + row.results, 0);
  const counts = run.task_counts;
  const budget = run.budget === null ? '-' : `${formatCost(run.budget_spent ?? 0)} of ${run.budget}${run.budget_reason ? ' (paused)' : ''}`;
  const row = [
    run.workflow_id,
    `${count('ready')}/${count('busy')}/${count('stopped')}`,
    `${counts.completed}/${counts.running}/${counts.pending + counts.blocked}`,
    formatCost(run.cost),
    results > 0 ? formatCost(run.cost / results) : '-',
    results,
    budget,
  ];
  return `${renderTable(SUMMARY_COLUMNS, [row], { width })}\n`;
}

const NO_RUNS = 'No runs yet (start one with `worksched run MODULE --run-id ID`)\n';

/**
 * A run's view for `summary --run` and `show --run` (printed once or kept up to date with --watch): the run
 * `runId` or the most recent one. `refreshes` ends a watch after that many frames (scripts, tests).
 */
export function runView(client: WorkschedClient, runId: string | undefined, render: (state: RunState, width: number | null) => string, refreshes?: number): LiveView<RunState | null> {
  let frames = 0;
  return {
    title: `worksched run ${runId ?? '(most recent)'} · every 1s · Ctrl-C to stop`,
    next: async (previous, signal) => {
      if (frames > 0) await sleep(1_000, signal);
      frames += 1;
      return loadRunState(client, runId);
    },
    render: (state, width) => (state ? render(state, width) : NO_RUNS),
    isFinal: () => refreshes !== undefined && frames >= refreshes,
    changeKey: (state) => JSON.stringify(state),
  };
}

export const runSummaryView = (client: WorkschedClient, runId: string | undefined, refreshes?: number) => runView(client, runId, renderRunSummary, refreshes);
