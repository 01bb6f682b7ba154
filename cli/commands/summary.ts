import type { Command } from 'commander';
import type { WorkschedClient } from '../../client';
import { sleep } from '../../common/sleep';
import type { StatisticsSummary } from '../../protocol/statistics';
import { connect, withConnectionOptions, type ConnectionOptions } from '../connection';
import { CliUsageError } from '../errors';
import { runLiveView, type LiveView } from '../liveView';
import { parseIntegerOption, printJson } from '../format';
import { runSummaryView } from '../runTables';
import { renderTable, terminalWidth } from '../table';

interface SummaryFlags extends ConnectionOptions {
  json?: boolean;
  watch?: boolean;
  run?: string | true;
  refreshes?: string;
}

/**
 * `worksched summary`: where the queue stands, as one screen. Each kind of summary is a LiveView (printed
 * once, or kept up to date with --watch); the overall one is the only kind today. A per-run summary
 * (`--run ID`, once runs exist) is another view chosen here by its option, printed and watched the same way.
 */
export function registerSummaryCommand(program: Command): void {
  withConnectionOptions(
    program
      .command('summary')
      .description('where things stand: work requests by status, workers ready/busy/offline, what ended in the last hour (needs an operator or admin token)')
      .option('--run [id]', 'a run in one row: workers ready/busy/stopped, tasks done/running/queued, cost, cost/result, results, budget used (no id: the most recent run)')
      .option('--json', 'print JSON')
      .option('--watch', 'redraw in place every second (Ctrl-C stops)')
      .option('--refreshes <n>', 'with --watch: stop after this many frames'),
  ).action(async (flags: SummaryFlags) => {
    if (flags.watch && flags.json) throw new CliUsageError('give --watch or --json, not both');
    const client = connect(flags);
    const refreshes = flags.refreshes === undefined ? undefined : parseIntegerOption(flags.refreshes, '--refreshes', { min: 1 });
    if (flags.run !== undefined) {
      const view = runSummaryView(client, flags.run === true ? undefined : flags.run, refreshes);
      if (flags.watch) await runLiveView(view);
      else if (flags.json) printJson(await view.next(null, new AbortController().signal));
      else process.stdout.write(view.render(await view.next(null, new AbortController().signal), terminalWidth()));
      return;
    }
    const view = overallSummary(client);
    if (flags.watch) {
      await runLiveView(view);
      return;
    }
    const state = await view.next(null, new AbortController().signal);
    if (flags.json) printJson(state);
    else process.stdout.write(view.render(state, terminalWidth()));
  });
}

function overallSummary(client: WorkschedClient): LiveView<StatisticsSummary> {
  return {
    title: 'worksched summary · every 1s · Ctrl-C to stop',
    next: async (previous, signal) => {
      if (previous) await sleep(1_000, signal);
      return client.getStatisticsSummary();
    },
    render: (summary, width) => `${renderOverallSummary(summary, width)}\n`,
    isFinal: () => false,
    changeKey: (summary) => JSON.stringify(summary),
  };
}

/**
 * ```
 * work requests  120   pending 3 (1 unschedulable), running 2, completed 110, aborted 5
 * workers        3     ready 2, busy 1, offline 0
 * last hour      42    ended, 0.7/min: success 40, failure 1, aborted 1
 * ```
 */
export function renderOverallSummary(summary: StatisticsSummary, width: number | null): string {
  const { work_requests: requests, workers, last_hour: lastHour } = summary;
  const counts = (pairs: Array<[string, number]>) => pairs.map(([name, count]) => `${name} ${count}`).join(', ');
  const byStatus = requests.by_status;
  const statuses: Array<[string, number]> = [
    ['blocked', byStatus.blocked],
    ['pending', byStatus.pending],
    ['running', byStatus.running],
    ['completed', byStatus.completed],
    ['aborted', byStatus.aborted],
  ];
  // Pending and running always; the others when there are some.
  const queue = counts(statuses.filter(([name, count]) => count > 0 || name === 'pending' || name === 'running'));
  const unschedulable = requests.unschedulable > 0 ? ` (${requests.unschedulable} pending that no worker can run: see \`worksched show --status pending\`)` : '';
  const byState = workers.by_state;
  const fleet = counts([
    ['ready', byState.idle],
    ['busy', byState.busy],
    ['offline', byState.offline],
    ...(byState.disabled > 0 ? [['disabled', byState.disabled] as [string, number]] : []),
  ]);
  const results: Array<[string, number]> = Object.entries(lastHour.by_result).filter(([, count]) => count > 0);
  if (lastHour.aborted > 0) results.push(['aborted', lastHour.aborted]);
  const ended = `${lastHour.per_minute}/min${results.length > 0 ? `: ${counts(results)}` : ''}`;
  return renderTable(
    [{ head: '' }, { head: 'total' }, { head: 'of which', shrinkTo: 20 }],
    [
      ['work requests', requests.total, `${queue}${unschedulable}`],
      ['workers', workers.total, fleet],
      ['ended, last hour', lastHour.ended, ended],
    ],
    { width },
  );
}
