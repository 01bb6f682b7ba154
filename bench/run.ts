/**
 * `npm run bench`: runs the scenarios in order against the real server (in this process) and prints a summary.
 * `npm run bench -- latency claim`: only the scenarios whose name contains one of the words; `compared`: the ones
 * the comparison with pg-boss and graphile-worker needs (1, 2, 7, 8).
 * PostgreSQL: DATABASE_URL when set, else an embedded server in a fresh temp dir (pg_stat_statements preloaded);
 * one database per scenario. Scenario 4 (bench/statisticsQuery.ts) provisions its own.
 * Figures only, not a test: a missed target is reported, not a failure. Exits non-zero if a scenario fails.
 */
import os from 'node:os';
import Table from 'cli-table3';
import { runAgentConcurrent } from './agentConcurrent';
import { runClaimCost } from './claimCost';
import { runClaimLearned } from './claimLearned';
import { runEtaPass } from './etaPass';
import { runFolderExpansion } from './folderExpansion';
import { Cleanup, progress, provisionPostgres } from './lib/harness';
import type { Figures } from './lib/compared';
import type { ScenarioReport, SummaryRow } from './lib/report';
import { runLatency } from './latency';
import { runScheduleTick } from './scheduleTick';
import { runDashboardLoad } from './dashboardLoad';
import { runRateLimiterCost } from './rateLimiterCost';
import { runReplicaLatency } from './replicaLatency';
import { comparisonTable, runPeersCompared } from './peersCompared';
import { benchStatisticsQuery, STATISTICS_TARGET_P95_MS } from './statisticsQuery';
import { runBudgetClaim } from './runBudgetClaim';
import { runThroughput } from './throughput';
import { runWorkerAgent } from './workerAgent';
import { runWorkflows } from './workflows';

/** Hard stop: whatever happens, the bench ends (after trying to clean up). */
const OVERALL_LIMIT_MS = 20 * 60_000; // scenarios 7 and 8 and the 20,000-request variant A add about 4 min: 19 min in all at load average 20

const scenarios: Array<{ name: string; run: typeof runThroughput }> = [
  { name: '1 end-to-end no-op throughput', run: runThroughput },
  { name: '2 enqueue→claim latency (long-polling workers)', run: runLatency },
  { name: '3 claim cost vs table size', run: runClaimCost },
  { name: '4 statistics queries on 1M history rows, BENCH_STATISTICS_HISTORY_ROWS (bench/statisticsQuery.ts)', run: runStatisticsQuery },
  { name: '5 worker agent: idle RSS/CPU and per-task overhead (bench/workerAgent.ts)', run: runWorkerAgent },
  { name: '6 claim latency with learned requirements on 100k pending (bench/claimLearned.ts)', run: runClaimLearned },
  { name: '7 the real agent at --concurrency 32 on /bin/true tasks, 5,000 by default (bench/agentConcurrent.ts)', run: runAgentConcurrent },
  { name: '8 peers: pg-boss and graphile-worker on the same PostgreSQL (bench/peersCompared.ts)', run: runPeersCompared },
  { name: '9 schedules tick with 1,000 enabled schedules (bench/scheduleTick.ts)', run: runScheduleTick },
  { name: '10 dashboard: page loads in headless Chromium, claim latency while 5 tabs are open or reload (bench/dashboardLoad.ts)', run: runDashboardLoad },
  { name: '11 workflows: a 10,000-task workflow created and drained, claim cost with 100,000 blocked rows (bench/workflows.ts)', run: runWorkflows },
  { name: '12 rate limiter cost per create call (bench/rateLimiterCost.ts)', run: runRateLimiterCost },
  { name: '13 enqueue→claim latency with 3 replicas on one database against 1 (bench/replicaLatency.ts)', run: runReplicaLatency },
  { name: '14 ETA pass on 100k pending × 1,000 workers, and its accuracy (bench/etaPass.ts)', run: runEtaPass },
  { name: '15 folder expansion: single_file_task on a folder of 10,000 files (bench/folderExpansion.ts)', run: runFolderExpansion },
  { name: '16 claim cost with a budgeted run of 100,000 pending and 1,000,000 past attempts (bench/runBudgetClaim.ts)', run: runBudgetClaim },
];

/** Selection words that stand for several scenarios, by number (a name word would match others: 13 is enqueue→claim too). */
const SELECTION_ALIASES = new Map<string, number[]>([['compared', [1, 2, 7, 8]]]);

/** `npm run bench -- latency claim compared`: a scenario runs when an alias lists its number or its name contains a word. */
function isSelected(name: string, words: readonly string[]): boolean {
  if (words.length === 0) return true;
  const number = Number.parseInt(name, 10);
  return words.some((word) => SELECTION_ALIASES.get(word)?.includes(number) ?? name.toLowerCase().includes(word));
}

/** bench/statisticsQuery.ts (its own database and server) as a scenario: its result object as summary rows. */
async function runStatisticsQuery(): Promise<ScenarioReport> {
  const result = await benchStatisticsQuery();
  const rows: SummaryRow[] = [];
  for (const [key, value] of Object.entries(result)) {
    if (key === 'tasks_target' || key === 'tasks_target_met' || key === 'machine') continue;
    const row: SummaryRow = { scenario: '4 statistics', metric: key, value: String(value) };
    if ((key === 'tasks_p95_ms' || key === 'workers_7d_p95_ms') && result.tasks_target !== undefined) {
      row.target = String(result.tasks_target);
      row.met = Number(value) <= STATISTICS_TARGET_P95_MS;
    }
    rows.push(row);
  }
  return { rows, notes: [] };
}

async function main(): Promise<number> {
  const cleanup = new Cleanup();
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    progress(`${signal}: cleaning up`);
    void cleanup.runAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const watchdog = setTimeout(() => {
    progress(`the bench did not finish within ${OVERALL_LIMIT_MS / 60_000} min: cleaning up and exiting`);
    void cleanup.runAll().finally(() => process.exit(2));
  }, OVERALL_LIMIT_MS);
  watchdog.unref();

  const rows: SummaryRow[] = [];
  const notes: string[] = [];
  const failures: string[] = [];
  const figures: Figures = {};
  const peers: NonNullable<ScenarioReport['peers']> = [];
  try {
    const cpus = os.cpus();
    console.log('worksched bench');
    console.log(`  machine:    ${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown cpu'}, ${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB RAM, ${os.platform()} ${os.release()}`);
    console.log(`  node:       ${process.version}; load average ${os.loadavg().map((value) => value.toFixed(1)).join(' ')} (the machine may be shared)`);
    const postgres = await provisionPostgres(cleanup);
    console.log(`  postgresql: ${postgres.version} (${postgres.origin}); ${postgres.settings}`);
    console.log('  the server, the simulated workers and the bench share this one Node process (one event loop);');
    console.log('  PostgreSQL runs on the same machine.\n');

    // `npm run bench -- latency claim`: only the scenarios whose name contains one of the words.
    const only = process.argv.slice(3).map((word) => word.toLowerCase());
    for (const scenario of scenarios) {
      if (interrupted) break;
      if (!isSelected(scenario.name, only)) continue;
      progress(`=== scenario ${scenario.name}`);
      const unsettled = await postgres.settle();
      if (unsettled) progress(unsettled);
      const start = Date.now();
      try {
        const report: ScenarioReport = await scenario.run(postgres);
        rows.push(...report.rows);
        notes.push(...report.notes);
        Object.assign(figures, report.figures);
        peers.push(...(report.peers ?? []));
        progress(`=== scenario ${scenario.name}: done in ${((Date.now() - start) / 1000).toFixed(1)} s\n`);
      } catch (error) {
        const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
        failures.push(`${scenario.name}: ${message}`);
        progress(`=== scenario ${scenario.name}: FAILED: ${message}\n`);
      }
    }
  } catch (error) {
    failures.push(`setup: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  } finally {
    await cleanup.runAll();
    clearTimeout(watchdog);
  }

  const table = new Table({ head: ['scenario', 'metric', 'value', 'target', ''], style: { head: [], border: [] } });
  for (const row of rows) {
    table.push([row.scenario, row.metric, row.value, row.target ?? '', row.met === undefined ? '' : row.met ? 'met' : 'MISSED']);
  }
  console.log('\nsummary');
  console.log(table.toString());
  if (notes.length > 0) console.log(`\n${notes.join('\n')}`);
  if (peers.length > 0) {
    console.log('\nworksched beside pg-boss and graphile-worker (same PostgreSQL, same run; ratio = worksched ÷ peer)');
    console.log(comparisonTable(figures, peers));
  }
  if (failures.length > 0) {
    console.log(`\n${failures.length} scenario(s) failed:`);
    for (const failure of failures) console.log(`  ${failure}`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
    // Anything still holding the event loop (a stray socket) must not keep the bench alive.
    setTimeout(() => process.exit(code), 2_000).unref();
  },
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
