import type { Command } from 'commander';
import type { WorkschedClient } from '../../client';
import {
  statisticsWindowSchema,
  TASK_STATISTICS_SORTS,
  type RecentRun,
  type StatisticsSummary,
  type TaskStatistics,
  type TaskStatisticsDetail,
  type TaskStatisticsFilter,
  type TaskStatisticsSort,
  type WorkerStatisticsList,
} from '../../protocol/statistics';
import { describeZodError } from '../../protocol/errors';
import { connect, withConnectionOptions, type ConnectionOptions } from '../connection';
import { CliUsageError } from '../errors';
import { formatAge, formatDuration, formatSize, parseIntegerOption, printJson, truncate } from '../format';
import { renderTable, type Column } from '../table';

interface StatsFlags extends ConnectionOptions {
  prefix?: string;
  subject?: string;
  context?: string;
  minRuns?: string;
  sort: string;
  limit: string;
  cursor?: string;
  all?: boolean;
  workers?: boolean;
  window?: string;
  summary?: boolean;
  efficiency?: boolean;
  json?: boolean;
}

export function registerStatsCommand(program: Command): void {
  withConnectionOptions(
    program
      .command('stats')
      .description(
        'statistics from the task history (needs an operator or admin token): per task key, one task in detail ' +
          '(TASK), per worker (--workers) or an overview (--summary). Percentiles are over the retained successful runs.',
      )
      .argument('[task]', 'one task: its subjects/contexts, a total and its 20 newest runs')
      .option('--prefix <text>', 'only tasks whose name starts with this')
      .option('--subject <subject>', 'only this subject ("" for keys without one)')
      .option('--context <context>', 'only this context ("" for keys without one)')
      .option('--min-runs <n>', 'only keys with at least this many runs')
      .option('--sort <order>', `one of ${TASK_STATISTICS_SORTS.join(', ')} (a leading - sorts descending)`, 'task_name')
      .option('--limit <n>', 'keys per page (1..500)', '50')
      .option('--cursor <cursor>', 'continue from the cursor a previous page printed')
      .option('--all', 'every page, not just the first')
      .option('--workers', 'per worker: runs, failures, busy time and utilisation over --window')
      .option('--window <duration>', 'with --workers: seconds or e.g. 90s, 15m, 2h, 7d (at most 90d)', '24h')
      .option('--summary', 'work requests by status and result, unschedulable ones, workers by state')
      .option('--efficiency', 'per key whose requests name memory/cpu (Slurm seff): used (p95) against asked, a suggested request and the waste; sorted by -memory_waste unless --sort says otherwise')
      .option('--json', 'print JSON'),
  ).action(async (task: string | undefined, flags: StatsFlags) => {
    const modes = [task !== undefined && 'TASK', flags.workers && '--workers', flags.summary && '--summary', flags.efficiency && '--efficiency'].filter(Boolean);
    if (modes.length > 1) throw new CliUsageError(`give only one of TASK, --workers, --summary, --efficiency (got ${modes.join(' and ')})`);
    const client = connect(flags);
    if (flags.workers) return showWorkers(client, parseWindow(flags.window ?? '24h'), flags.json);
    if (flags.summary) return showSummary(client, flags.json);
    if (task !== undefined) return showTask(client, task, parseIntegerOption(flags.limit, '--limit', { min: 1, max: 500 }), flags.json);
    if (flags.efficiency) {
      const sort = flags.sort === 'task_name' ? '-memory_waste' : flags.sort;
      return showEfficiency(client, toFilter({ ...flags, sort }), flags.all ?? false, flags.json);
    }
    return showTasks(client, toFilter(flags), flags.all ?? false, flags.json);
  });
}

function toFilter(flags: StatsFlags): TaskStatisticsFilter {
  const sorts: readonly string[] = TASK_STATISTICS_SORTS;
  if (!sorts.includes(flags.sort)) {
    throw new CliUsageError(`--sort: unknown order ${JSON.stringify(flags.sort)}; use one of ${TASK_STATISTICS_SORTS.join(', ')}`);
  }
  return {
    task_name_prefix: flags.prefix,
    subject: flags.subject,
    context: flags.context,
    min_runs: flags.minRuns === undefined ? undefined : parseIntegerOption(flags.minRuns, '--min-runs', { min: 0 }),
    sort: flags.sort as TaskStatisticsSort,
    limit: parseIntegerOption(flags.limit, '--limit', { min: 1, max: 500 }),
    cursor: flags.cursor,
  };
}

function parseWindow(text: string): number {
  const parsed = statisticsWindowSchema.safeParse(text);
  if (!parsed.success) throw new CliUsageError(`--window: ${describeZodError(parsed.error).replace(/^\(body\): /, '')}`);
  return parsed.data;
}

async function showTasks(client: WorkschedClient, filter: TaskStatisticsFilter, all: boolean, json?: boolean): Promise<void> {
  let rows: TaskStatistics[];
  let nextCursor: string | null = null;
  if (all) {
    rows = [];
    for await (const row of client.iterateTaskStatistics(filter)) rows.push(row);
  } else {
    const page = await client.getTaskStatistics(filter);
    rows = page.tasks;
    nextCursor = page.next_cursor;
  }
  if (json) {
    printJson(all ? rows : { tasks: rows, next_cursor: nextCursor });
    return;
  }
  if (rows.length === 0) {
    process.stderr.write('no task history matches (statistics appear once work requests have finished)\n');
    return;
  }
  const table = renderTable([{ head: 'key', shrinkTo: 16 }, ...FIGURE_COLUMNS], rows.map((row) => [truncate(describeKey(row), 60), ...figures(row)]));
  process.stdout.write(`${table}\n`);
  if (nextCursor) process.stderr.write(`more keys: add --cursor ${nextCursor} (or --all)\n`);
}

async function showEfficiency(client: WorkschedClient, filter: TaskStatisticsFilter, all: boolean, json?: boolean): Promise<void> {
  let rows: TaskStatistics[] = [];
  let nextCursor: string | null = null;
  if (all) {
    for await (const row of client.iterateTaskStatistics(filter)) rows.push(row);
  } else {
    const page = await client.getTaskStatistics(filter);
    rows = page.tasks;
    nextCursor = page.next_cursor;
  }
  const measured = rows.filter((row) => row.efficiency !== null);
  if (json) {
    printJson(all ? measured : { tasks: measured, next_cursor: nextCursor });
    return;
  }
  if (measured.length === 0) {
    process.stderr.write('no key has successful runs that asked for memory or cpu explicitly (efficiency is refreshed every few seconds)\n');
    return;
  }
  process.stdout.write(`${renderEfficiency(measured)}\n`);
  if (nextCursor) process.stderr.write(`more keys: add --cursor ${nextCursor} (or --all)\n`);
}

const EFFICIENCY_COLUMNS: Column[] = [
  { head: 'key', shrinkTo: 16 },
  { head: 'runs' },
  { head: 'mem asked' },
  { head: 'mem used p95' },
  { head: 'mem eff' },
  { head: 'mem suggested' },
  { head: 'GiB·h wasted', dropRank: 2 },
  { head: 'cpu asked', dropRank: 3 },
  { head: 'cpu used p95', dropRank: 3 },
  { head: 'cpu eff', dropRank: 3 },
  { head: 'cpu suggested', dropRank: 3 },
  { head: 'core·h wasted', dropRank: 1 },
];

/** One row per key: memory and cpu asked vs used (p95), as a ratio, what to ask instead, and the waste. */
export function renderEfficiency(rows: TaskStatistics[]): string {
  const cells = rows.map((row) => {
    const memory = row.efficiency?.memory ?? null;
    const cpu = row.efficiency?.cpu ?? null;
    return [
      truncate(describeKey(row), 60),
      String(row.efficiency?.runs ?? 0),
      memory ? formatSize(memory.asked) : '-',
      memory ? formatSize(memory.used_p95) : '-',
      memory ? formatPercent(memory.ratio) : '-',
      memory ? formatSize(memory.suggested) : '-',
      memory ? memory.waste_gib_hours.toFixed(2) : '-',
      cpu ? String(cpu.asked) : '-',
      cpu ? cpu.used_p95.toFixed(2) : '-',
      cpu ? formatPercent(cpu.ratio) : '-',
      cpu ? String(cpu.suggested) : '-',
      cpu ? cpu.waste_core_hours.toFixed(2) : '-',
    ];
  });
  return renderTable(EFFICIENCY_COLUMNS, cells);
}

async function showTask(client: WorkschedClient, task: string, limit: number, json?: boolean): Promise<void> {
  const detail = await client.getTaskStatisticsFor(task, { limit });
  if (json) {
    printJson(detail);
    return;
  }
  process.stdout.write(renderTaskDetail(detail));
}

export function renderTaskDetail(detail: TaskStatisticsDetail, now: Date = new Date()): string {
  const keyRows = [...detail.keys, detail.total].map((row) => {
    const isTotal = row === detail.total;
    return [isTotal ? 'total' : truncate(row.subject ?? '-', 30), isTotal ? '' : truncate(row.context ?? '-', 20), ...figures(row, now)];
  });
  const keys = renderTable([{ head: 'subject', shrinkTo: 10 }, { head: 'context', shrinkTo: 8 }, ...FIGURE_COLUMNS], keyRows);
  const recent = renderTable(RECENT_RUN_COLUMNS, detail.recent_runs.map((run) => recentRunCells(run, now)));
  const more = detail.keys_truncated ? `(more keys: worksched stats --prefix ${detail.task_name} --all)\n` : '';
  return `${detail.task_name}\n${keys}\n${more}\nrecent runs\n${recent}\n`;
}

const RECENT_RUN_COLUMNS: Column[] = [
  { head: 'completed', dropRank: 1 },
  { head: 'request' },
  { head: 'subject', shrinkTo: 8 },
  { head: 'context', shrinkTo: 8, dropRank: 2 },
  { head: 'try', dropRank: 3 },
  { head: 'result', shrinkTo: 10 },
  { head: 'worker', shrinkTo: 8, dropRank: 4 },
  { head: 'duration' },
  { head: 'cpu', dropRank: 5 },
  { head: 'memory' },
  { head: 'disk', dropRank: 6 },
];

function recentRunCells(run: RecentRun, now: Date): string[] {
  return [
    formatAge(run.completed_at, now),
    run.work_request_id === null ? '-' : String(run.work_request_id),
    truncate(run.subject ?? '-', 30),
    truncate(run.context ?? '-', 20),
    String(run.attempt),
    run.error_code ? `${run.result} (${run.error_code})` : run.result,
    truncate(run.worker_name ?? '-', 30),
    formatDuration(run.duration_s),
    formatDuration(run.cpu_time_s),
    formatSize(run.memory),
    formatSize(run.disk_space),
  ];
}

async function showWorkers(client: WorkschedClient, windowS: number, json?: boolean): Promise<void> {
  const answer = await client.getWorkerStatistics(windowS);
  if (json) {
    printJson(answer);
    return;
  }
  process.stdout.write(renderWorkerStatistics(answer));
}

export function renderWorkerStatistics(answer: WorkerStatisticsList): string {
  if (answer.workers.length === 0) return 'no workers registered yet (start one with `worksched worker`)\n';
  const columns: Column[] = [
    { head: 'worker', shrinkTo: 10 },
    { head: 'state' },
    { head: 'slots', dropRank: 1 },
    { head: 'runs' },
    { head: 'failures' },
    { head: 'busy', dropRank: 2 },
    { head: 'utilisation' },
  ];
  const rows = answer.workers.map((worker) => [
    truncate(worker.name, 40),
    worker.state,
    String(worker.concurrency),
    String(worker.runs),
    String(worker.failures),
    formatDuration(worker.busy_time_s),
    formatPercent(worker.utilisation),
  ]);
  return `last ${formatDuration(answer.window_s)} (since ${answer.since})\n${renderTable(columns, rows)}\n`;
}

async function showSummary(client: WorkschedClient, json?: boolean): Promise<void> {
  const summary = await client.getStatisticsSummary();
  if (json) {
    printJson(summary);
    return;
  }
  process.stdout.write(renderSummary(summary));
}

export function renderSummary(summary: StatisticsSummary): string {
  const { work_requests: requests, workers } = summary;
  const counts = (record: Record<string, number>) =>
    Object.entries(record)
      .map(([name, count]) => `${name} ${count}`)
      .join(', ');
  const table = renderTable([{ head: '' }, { head: 'total' }, { head: 'by kind', shrinkTo: 20 }], [
    ['work requests', String(requests.total), counts(requests.by_status)],
    ['results', String(Object.values(requests.by_result).reduce((sum, count) => sum + count, 0)), counts(requests.by_result)],
    ['unschedulable', String(requests.unschedulable), 'pending, but no enabled worker can run them (see `worksched show ID`)'],
    ['workers', String(workers.total), counts(workers.by_state)],
  ]);
  return `${table}\n`;
}

/** The figures columns shared by the listing and the per-task table; the ones of least use go first. */
const FIGURE_COLUMNS: Column[] = [
  { head: 'runs' },
  { head: 'ok %' },
  { head: 'dur p50', dropRank: 8 },
  { head: 'dur p95' },
  { head: 'cpu p95', dropRank: 6 },
  { head: 'mem p95' },
  { head: 'mem max', dropRank: 9 },
  { head: 'disk p95', dropRank: 5 },
  { head: 'last success', dropRank: 4 },
  { head: 'last failure', dropRank: 7 },
];

/** The figures columns shared by the listing and the per-task table. */
function figures(row: TaskStatistics, now: Date = new Date()): string[] {
  return [
    String(row.runs),
    formatPercent(row.success_rate),
    formatDuration(row.duration.p50),
    formatDuration(row.duration.p95),
    formatDuration(row.cpu_time.p95),
    formatSize(row.memory.p95),
    formatSize(row.memory.max),
    formatSize(row.disk_space.p95),
    formatAge(row.last_success_at, now),
    formatAge(row.last_failure_at, now),
  ];
}

/** "build (pkg-a, amd64)", "build (-, amd64)", "build". */
function describeKey(row: Pick<TaskStatistics, 'task_name' | 'subject' | 'context'>): string {
  if (row.subject === null && row.context === null) return row.task_name;
  return `${row.task_name} (${row.subject ?? '-'}${row.context === null ? '' : `, ${row.context}`})`;
}

/** 0.975 → "97.5%", 1 → "100%", null → "-". */
function formatPercent(fraction: number | null): string {
  if (fraction === null || !Number.isFinite(fraction)) return '-';
  const percent = fraction * 100;
  return `${Number.isInteger(Math.round(percent * 10) / 10) ? Math.round(percent) : percent.toFixed(1)}%`;
}
