/**
 * Scenario 8: pg-boss and graphile-worker on the same PostgreSQL in the same run, with the same N, concurrency and
 * no-op handler (bench/peers/*), each on its own database; then the one-at-a-time enqueues of all three (worksched
 * on a fresh server of its own), alternating round by round; and the table that sets worksched's figures (from
 * scenarios 1, 2, 7 and this one) beside theirs, as ratios, with issue 9's targets.
 * `npm run bench -- compared` runs just the scenarios the table needs (1, 2, 7 and this one).
 */
import Table from 'cli-table3';
import { Client } from 'pg';
import { Cleanup, NOOP_SPEC, progress, registerWorkers, startBenchServer, type BenchPostgres } from './lib/harness';
import { COMPARED_N, COMPARED_SEQUENTIAL, FIGURES, type Figures } from './lib/compared';
import type { ScenarioReport } from './lib/report';
import { ms, rate } from './lib/stats';
import { benchGraphileWorker } from './peers/graphileWorker';
import { benchPgBoss } from './peers/pgBoss';
import { measureSequentialEnqueues, type PeerResult } from './peers/peerMeasure';

const SCENARIO = '8 peers';
const DRAIN_LIMIT_MS = 120_000;

export async function runPeersCompared(postgres: BenchPostgres): Promise<ScenarioReport> {
  const report: ScenarioReport = { rows: [], notes: [], peers: [], figures: {} };
  // One cleanup for the scenario: every peer stays up until the sequential enqueues, measured side by side, are done.
  const cleanup = new Cleanup();
  try {
    const connect = async (url: string) => {
      const client = new Client({ connectionString: url, application_name: 'worksched-bench' });
      await client.connect();
      cleanup.add('close SQL connection', () => client.end());
      return client;
    };
    const results: PeerResult[] = [];
    // graphile-worker first: stopped, it keeps no timers, while a started pg-boss supervises its queues; so neither
    // peer's drain runs beside the other's background work.
    for (const bench of [benchGraphileWorker, benchPgBoss]) {
      const result = await bench(postgres, cleanup, connect, COMPARED_N, DRAIN_LIMIT_MS);
      results.push(result);
      report.notes.push(result.config);
    }

    const worksched = await startBenchServer(cleanup, postgres, 'compared');
    // A worker that fits, so that the creates are schedulable (else each also sets "no worker can run it").
    await registerWorkers(worksched, 'sequential', 1, 1);
    const ours = {
      name: 'worksched POST /api/v1/work-requests',
      enqueueOne: async () => void (await worksched.http.post('/api/v1/work-requests', worksched.server.adminToken, NOOP_SPEC)),
    };
    progress(`one at a time, sequentially: ${[ours, ...results.map((result) => result.sequential)].map((contender) => contender.name).join(', ')}, alternating`);
    const sequential = await measureSequentialEnqueues([ours, ...results.map((result) => result.sequential)], COMPARED_SEQUENTIAL);
    report.figures!.sequentialCreatePerS = sequential.get(ours.name)!.perS;
    report.rows.push({ scenario: SCENARIO, metric: 'worksched: one-at-a-time create, sequential (alternating with the peers)', value: rate(sequential.get(ours.name)!.perS) });
    for (const result of results) {
      result.figures.sequentialCreatePerS = sequential.get(result.sequential.name)!.perS;
      report.peers!.push({ name: result.name, figures: result.figures });
      for (const figure of FIGURES) {
        const value = result.figures[figure.key];
        if (value !== undefined) report.rows.push({ scenario: SCENARIO, metric: `${result.name}: ${figure.label.trim()}`, value: format(value, figure.unit) });
      }
    }
  } finally {
    await cleanup.runAll();
  }
  return report;
}

/**
 * figure | worksched | pg-boss | graphile-worker | ratio(s) | target, as printed under the summary, then how
 * worksched's value of each figure is measured.
 */
export function comparisonTable(ours: Figures, peers: ReadonlyArray<{ name: string; figures: Figures }>): string {
  const pgBoss = peers.find((peer) => peer.name.startsWith('pg-boss'));
  const graphile = peers.find((peer) => peer.name.startsWith('graphile-worker'));
  const table = new Table({
    head: ['figure', 'worksched', pgBoss?.name ?? 'pg-boss', graphile?.name ?? 'graphile-worker', 'worksched ÷ peer', 'issue 9 target', ''],
    style: { head: [], border: [] },
  });
  for (const figure of FIGURES) {
    const value = ours[figure.key];
    const theirs = (peer: typeof pgBoss) => peer?.figures[figure.key];
    const ratio = (peer: typeof pgBoss) => {
      const other = theirs(peer);
      return value === undefined || other === undefined || other === 0 ? undefined : value / other;
    };
    const ratios = { pgBoss: ratio(pgBoss), graphile: ratio(graphile) };
    const ratioText = [
      ratios.pgBoss === undefined ? '' : `${ratios.pgBoss.toFixed(2)}× pg-boss`,
      ratios.graphile === undefined ? '' : `${ratios.graphile.toFixed(2)}× graphile`,
    ]
      .filter(Boolean)
      .join(', ');
    const met = value === undefined ? undefined : figure.met?.(ratios, value);
    const cell = (v: number | undefined, missing: string) => (v === undefined ? missing : format(v, figure.unit));
    table.push([
      figure.label,
      cell(value, 'not measured'),
      cell(theirs(pgBoss), pgBoss ? 'n/a' : 'not run'),
      cell(theirs(graphile), graphile ? 'n/a' : 'not run'),
      ratioText,
      figure.target,
      met === undefined ? '' : met ? 'met' : 'MISSED',
    ]);
  }
  const how = FIGURES.filter((figure) => figure.ours).map((figure) => `  ${figure.label.trim()} — worksched: ${figure.ours}`);
  return [table.toString(), ...how].join('\n');
}

function format(value: number, unit: 'per_s' | 'ms'): string {
  return unit === 'ms' ? ms(value) : rate(value);
}
