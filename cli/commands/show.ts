import type { Command } from 'commander';
import type { RuntimeStatistics } from '../../protocol/outputData';
import { commandArguments, executionKind, pythonKeywordArguments, type Execution } from '../../protocol/taskSpec';
import {
  WORK_REQUEST_STATUSES,
  type WorkRequest,
  type WorkRequestStatus,
} from '../../protocol/workRequest';
import type { WorkschedClient } from '../../client';
import { connect, withConnectionOptions, type ConnectionOptions } from '../connection';
import { runLiveView, type LiveView } from '../liveView';
import { CliUsageError } from '../errors';
import {
  formatAge,
  formatDuration,
  formatRunTime,
  formatSize,
  formatStatus,
  formatUntil,
  parseIdArgument,
  parseIntegerOption,
  printJson,
  truncate,
  withNotFoundHint,
  wrapText,
} from '../format';
import { renderTable, terminalWidth, type Column } from '../table';
import { renderRunWorkers, runView } from '../runTables';

interface ShowFlags extends ConnectionOptions {
  status?: string;
  taskName?: string;
  worker?: string;
  limit: string;
  json?: boolean;
  watch?: boolean;
  run?: string;
  refreshes?: string;
}

export function registerShowCommand(program: Command): void {
  withConnectionOptions(
    program
      .command('show')
      .description('list recent work requests, or show one in detail')
      .argument('[id]', 'work request id: show this one in detail')
      .option('--status <statuses>', `only these statuses, comma-separated (${WORK_REQUEST_STATUSES.join(', ')})`)
      .option('--task-name <name>', 'only this task')
      .option('--worker <name-or-id>', 'only requests assigned to this worker')
      .option('--limit <n>', 'how many requests to list, newest first (1..500)', '20')
      .option('--json', 'print JSON')
      .option('--watch', 'with ID: redraw the detail in place every second until the request ends (Ctrl-C stops); with --run: the run\'s workers')
      .option('--run <id>', "a run's workers, one row each (ix, worker, status, tasks, cost, cost/result, results, stop_reason)")
      .option('--refreshes <n>', 'with --run --watch: stop after this many frames'),
  ).action(async (id: string | undefined, flags: ShowFlags) => {
    if (flags.run !== undefined) {
      if (flags.watch && flags.json) throw new CliUsageError('give --watch or --json, not both');
      const refreshes = flags.refreshes === undefined ? undefined : parseIntegerOption(flags.refreshes, '--refreshes', { min: 1 });
      const view = runView(connect(flags), flags.run, renderRunWorkers, refreshes);
      if (flags.watch) {
        await runLiveView(view);
        return;
      }
      const state = await view.next(null, new AbortController().signal).catch((error: unknown) => {
        throw withNotFoundHint(error);
      });
      if (flags.json) printJson(state);
      else process.stdout.write(view.render(state, terminalWidth()));
      return;
    }
    if (flags.watch && id === undefined) throw new CliUsageError('--watch follows one request: give its id, e.g. worksched show 42 --watch');
    if (flags.watch && flags.json) throw new CliUsageError('give --watch or --json, not both');
    if (id !== undefined) {
      const requestId = parseIdArgument(id);
      const client = connect(flags);
      if (flags.watch) {
        await runLiveView(watchedRequest(client, requestId));
        return;
      }
      const request = await client.getWorkRequest(requestId).catch((error: unknown) => {
        throw withNotFoundHint(error);
      });
      if (flags.json) printJson(request);
      else process.stdout.write(renderDetail(request));
      return;
    }
    const limit = parseIntegerOption(flags.limit, '--limit', { min: 1, max: 500 });
    const status = flags.status === undefined ? undefined : parseStatuses(flags.status);
    const page = await connect(flags).listWorkRequests({ status, task_name: flags.taskName, worker: flags.worker, limit });
    if (flags.json) {
      printJson(page.work_requests);
    } else if (page.work_requests.length === 0) {
      process.stderr.write('no work requests match (submit one with `worksched submit`)\n');
    } else {
      process.stdout.write(`${renderList(page.work_requests)}\n`);
    }
  });
}

/** `show ID --watch`: long-polls for a change of status (at most a second), so the end is drawn at once. */
function watchedRequest(client: WorkschedClient, id: number): LiveView<WorkRequest> {
  return {
    title: `work request ${id} · every 1s · Ctrl-C to stop`,
    next: (previous, signal) =>
      client.getWorkRequest(id, previous ? { waitS: 1, whileStatus: previous.status, signal } : { signal }).catch((error: unknown) => {
        throw withNotFoundHint(error);
      }),
    render: (request, width) => renderDetail(request, new Date(), width),
    isFinal: (request) => request.status === 'completed' || request.status === 'aborted',
    changeKey: (request) => JSON.stringify([request.status, request.result, request.state_reason, request.worker?.id ?? null, request.superseded_by]),
  };
}

function parseStatuses(text: string): WorkRequestStatus[] {
  const statuses = text.split(',').map((part) => part.trim()).filter(Boolean);
  const known: readonly string[] = WORK_REQUEST_STATUSES;
  const unknown = statuses.filter((status) => !known.includes(status));
  if (statuses.length === 0 || unknown.length > 0) {
    throw new CliUsageError(`--status: unknown status ${JSON.stringify(unknown[0] ?? text)}; use ${WORK_REQUEST_STATUSES.join(', ')}`);
  }
  return statuses as WorkRequestStatus[];
}

const LIST_COLUMNS: Column[] = [
  { head: 'id' },
  { head: 'task', shrinkTo: 12 },
  { head: 'status' },
  { head: 'result', shrinkTo: 12 },
  { head: 'worker', shrinkTo: 8, dropRank: 1 },
  { head: 'duration', dropRank: 2 },
  { head: 'age', dropRank: 3 },
];

function renderList(requests: WorkRequest[], now: Date = new Date()): string {
  const rows = requests.map((request) => [
    request.id,
    truncate(request.task_name + (request.subject ? ` ${request.subject}` : ''), 40),
    formatStatus(request),
    truncate(outcomeOf(request), 50),
    request.worker?.name ?? '-',
    formatRunTime(request, now),
    formatAge(request.created_at, now),
  ]);
  return renderTable(LIST_COLUMNS, rows);
}

/** What the result column says: the first error, the skip reason, or why the request is where it is. */
function outcomeOf(request: WorkRequest): string {
  const error = request.output_data?.errors?.[0];
  if (error) return `${error.code}: ${error.message}`;
  if (request.output_data?.skip_reason) return request.output_data.skip_reason;
  if (request.result === 'success') return 'ok';
  return request.state_reason ?? '-';
}

function renderDetail(request: WorkRequest, now: Date = new Date(), width: number | null = terminalWidth()): string {
  const lines: string[] = [];
  const wrapped = (prefix: string, text: string, hang?: number) => lines.push(...wrapText(prefix, text, width, hang));
  const field = (name: string, value: string | number | null | undefined) => {
    wrapped(`${name}:`.padEnd(20), value === null || value === undefined || value === '' ? '-' : String(value));
  };
  field('id', request.id);
  field('task', request.task_name);
  field('subject', request.subject);
  field('context', request.context);
  field('status', formatStatus(request));
  field('state reason', request.state_reason);
  field('worker', request.worker ? `${request.worker.name} (#${request.worker.id})` : null);
  field('attempt', `${request.attempt} of ${request.max_attempts}`);
  if (request.supersedes !== null) field('supersedes', request.supersedes);
  if (request.superseded_by !== null) field('superseded by', `${request.superseded_by} (a later attempt)`);
  field('priority', request.priority_adjustment ? `${request.priority} (${signed(request.priority_adjustment)} adjustment)` : request.priority);
  field('time limit', request.time_limit_s === null ? 'none' : formatDuration(request.time_limit_s));
  field('interruptible', request.interrupt_allowed ? 'yes' : 'no');
  field('created', `${request.created_at} (${formatAge(request.created_at, now)})`);
  field('started', request.started_at);
  field('completed', request.completed_at);
  field(request.completed_at ? 'ran for' : 'running for', request.started_at ? formatRunTime(request, now) : null);
  // The scheduler's estimate (a housekeeping pass): while it waits, when it starts; until it ends, when it ends.
  const waiting = request.status === 'pending' || request.status === 'blocked';
  if (waiting || request.status === 'running') {
    if (waiting) field('expected start', request.expected_start_at ? `${request.expected_start_at} (${formatUntil(request.expected_start_at, now)})` : 'unknown');
    field('expected end', request.expected_end_at ? `${request.expected_end_at} (${formatUntil(request.expected_end_at, now)})` : 'unknown');
    field('estimate', request.eta_reason ?? 'not estimated yet (the scheduler estimates waiting work every few seconds)');
  }

  field('command', describeCommand(request.task_data.execution));
  const required = [
    ...(request.task_data.required_filepath ?? []),
    ...(request.task_data.required_folder ?? []).map((folder) => {
      const expressions = request.task_data.required_file_expression ?? [];
      return `${folder}/ (a file${expressions.length > 0 ? ` matching ${expressions.join(' or ')}` : ''})`;
    }),
  ];
  if (required.length > 0) field('required files', required.join(', '));
  const env = Object.entries(request.task_data.execution.env);
  if (env.length > 0) field('environment', env.map(([name, value]) => `${name}=${quoteArgument(value)}`).join(' '));
  if (!request.task_data.use_history) field('use history', 'no');

  lines.push('', 'requirements:');
  const requirements = request.requirements;
  const explicit = [
    requirements.memory !== undefined ? `memory ${formatSize(requirements.memory)}` : null,
    requirements.disk !== undefined ? `disk ${formatSize(requirements.disk)}` : null,
    requirements.cpu !== undefined ? `cpu ${requirements.cpu}` : null,
    requirements.gpu !== undefined ? `gpu ${requirements.gpu}` : null,
    requirements.tags?.length ? `tags ${requirements.tags.join(', ')}` : null,
  ].filter((part): part is string => part !== null);
  wrapped('  explicit:  ', explicit.length > 0 ? explicit.join('; ') : 'none');
  if (request.learned_requirements.length === 0) {
    lines.push('  learned:   none');
  } else {
    lines.push('  learned:');
    for (const learned of request.learned_requirements) {
      // The reason already names the resource and its value ("memory ≥ 369.4 MiB: p95 of …").
      wrapped('    ', learned.reason, 6);
    }
  }

  if (Object.keys(request.user_metadata).length > 0) {
    lines.push('');
    wrapped('user metadata:      ', JSON.stringify(request.user_metadata));
  }

  const output = request.output_data;
  const statistics = output?.runtime_statistics;
  if (statistics && Object.keys(statistics).length > 0) {
    lines.push('', 'runtime statistics:', renderStatistics(statistics));
  }
  if (output?.skip_reason) {
    lines.push('');
    wrapped('skip reason:        ', output.skip_reason);
  }
  if (output?.errors?.length) {
    lines.push('', 'errors:');
    for (const error of output.errors) {
      const { code, message, ...extra } = error;
      const more = Object.keys(extra).length > 0 ? ` ${JSON.stringify(extra)}` : '';
      wrapped('  ', `${code}: ${message}${more}`, 4);
    }
  }
  return `${lines.join('\n')}\n`;
}

function renderStatistics(statistics: RuntimeStatistics): string {
  const rows: string[][] = [];
  const row = (name: string, value: string | undefined) => {
    if (value !== undefined) rows.push([name, value]);
  };
  const seconds = (whole: number | undefined, ms: number | undefined) =>
    ms !== undefined ? formatDuration(ms / 1000) : whole !== undefined ? formatDuration(whole) : undefined;
  const bytes = (value: number | undefined) => (value === undefined ? undefined : formatSize(value));
  row('duration', seconds(statistics.duration, statistics.duration_ms));
  row('cpu time', seconds(statistics.cpu_time, statistics.cpu_time_ms));
  row('peak memory', bytes(statistics.memory));
  row('peak disk space', bytes(statistics.disk_space));
  row('worker free memory', bytes(statistics.available_memory));
  row('worker free disk', bytes(statistics.available_disk_space));
  row('worker cpus', statistics.cpu_count === undefined ? undefined : String(statistics.cpu_count));
  row('measured by', statistics.measurement);
  return renderTable([{ head: 'measure' }, { head: 'value', shrinkTo: 10 }], rows);
}

function signed(value: number): string {
  return value > 0 ? `+${value}` : String(value);
}

/** Shell-style quoting, only where needed, so the command line reads as it would be typed. */
/** The command line of an executable, the first line of a script, or the python call. */
function describeCommand(execution: Execution): string {
  const args = commandArguments(execution).map(quoteArgument);
  switch (executionKind(execution)) {
    case 'executable':
      return [quoteArgument(execution.executable ?? ''), ...args].join(' ');
    case 'script': {
      const lines = (execution.script ?? '').split('\n');
      return [`script (${lines.length} line${lines.length === 1 ? '' : 's'}: ${truncate(lines[0], 60)})`, ...args].join(' ');
    }
    case 'python': {
      const kwargs = Object.entries(pythonKeywordArguments(execution)).map(([name, value]) => `${name}=${JSON.stringify(value)}`);
      return `python ${execution.python?.file}: ${execution.python?.function}(${truncate(kwargs.join(', '), 200)})`;
    }
  }
}

function quoteArgument(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}
