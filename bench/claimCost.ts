/**
 * Scenario 3: claim cost vs table size. 1,000, 10,000 and 100,000 pending requests (and, with
 * BENCH_CLAIM_MAX_PENDING=1000000, 1,000,000: target ≤ 1.2× the cost with 1,000), then 1,000 pending among
 * 100,000 completed ones (inserted with SQL); one worker makes single claims {max 1, wait_s 0} and completes each;
 * latency of the claim call (and claim+complete). Also EXPLAIN (ANALYZE, BUFFERS) of the claim's picking query —
 * as the server sends it and with a constant LIMIT — and the SQL statements per claim and complete.
 */
import type { ClaimResponse } from '../protocol/workerApi';
import {
  Cleanup,
  StatementStats,
  calibrate,
  explainPick,
  withCpuProfile,
  QueryCounter,
  insertRequests,
  progress,
  registerWorkers,
  startBenchServer,
  withTimeLimit,
  type BenchPostgres,
  type BenchServer,
  type BenchWorker,
} from './lib/harness';
import type { ScenarioReport } from './lib/report';
import { CpuMeter, describeLatency, ms, summarize, type Summary } from './lib/stats';

interface Case {
  label: string;
  pending: number;
  completed: number;
}

/** The largest pending size measured beyond 100,000 (the 1M figure takes a minute or two to insert). */
const MAX_PENDING = Number(process.env.BENCH_CLAIM_MAX_PENDING ?? 100_000);
const LARGEST_LABEL = `${MAX_PENDING / 1000 >= 1000 ? `${MAX_PENDING / 1_000_000}M` : `${MAX_PENDING / 1000}k`}`;
const CASES: Case[] = [
  { label: '1k', pending: 1_000, completed: 0 },
  { label: '10k', pending: 10_000, completed: 0 },
  { label: '100k', pending: 100_000, completed: 0 },
  ...(MAX_PENDING > 100_000 ? [{ label: LARGEST_LABEL, pending: MAX_PENDING, completed: 0 }] : []),
  { label: '1k + 100k done', pending: 1_000, completed: 100_000 },
];
/** claim p50 at the largest size (1M with BENCH_CLAIM_MAX_PENDING) over p50 at 1,000 pending. */
const TARGET_LARGEST_RATIO = 1.2;
const WARMUP = 50;
const MEASURED = 500;
const TARGET_RATIO = 2;
const SCENARIO = '3 claim vs size';

export async function runClaimCost(postgres: BenchPostgres): Promise<ScenarioReport> {
  const cleanup = new Cleanup();
  try {
    const bench = await startBenchServer(cleanup, postgres, 'claimcost');
    const [worker] = await registerWorkers(bench, 'single', 1, 1);
    const report: ScenarioReport = { rows: [], notes: [] };
    const statements = await StatementStats.open(bench.sql);
    const floor = await calibrate(bench);
    progress(floor.line);
    report.rows.push({ scenario: SCENARIO, metric: 'floor p50: select 1 / GET /healthz', value: `${ms(floor.sqlP50)} / ${ms(floor.healthP50)}` });
    const claims = new Map<string, Summary>();

    for (const testCase of CASES) {
      const what = `${testCase.pending.toLocaleString('en-US')} pending${testCase.completed ? ` + ${testCase.completed.toLocaleString('en-US')} completed rows` : ''}`;
      await bench.sql.query('truncate work_request cascade');
      progress(`case ${testCase.label}: inserting ${what} with SQL (insert … select generate_series), then ANALYZE`);
      const insertStart = performance.now();
      if (testCase.completed) await insertRequests(bench.sql, testCase.completed, { completed: true });
      await insertRequests(bench.sql, testCase.pending);
      progress(`  inserted in ${((performance.now() - insertStart) / 1000).toFixed(2)} s`);

      const before = await explainPick(bench, worker);
      const constant = await explainPick(bench, worker, { constantLimit: true });
      progress(`  EXPLAIN picking query, server's LIMIT expression: ${before.summary}`);
      progress(`  EXPLAIN picking query, constant LIMIT 1:          ${constant.summary}`);

      progress(`  ${WARMUP} warm-up + ${MEASURED} measured claims {max 1, wait_s 0} → complete, one worker`);
      const meter = new CpuMeter();
      const measure = () => withTimeLimit(`claims at ${testCase.label}`, 120_000, () => measureClaims(bench, worker, statements));
      let result: Awaited<ReturnType<typeof measureClaims>>;
      if (testCase.label === '100k') {
        // Where the Node side of a claim + complete goes (server and simulated worker share this process).
        const profiled = await withCpuProfile('claim-complete-100k', measure);
        result = profiled.result;
        for (const line of profiled.lines) progress(`  ${line}`);
        report.notes.push(`claims with 100,000 pending, one worker, serial:`, ...profiled.lines.map((line) => `  ${line}`));
      } else {
        result = await measure();
      }
      const cpu = meter.describe(WARMUP + MEASURED);
      const cpuPerRequest = meter.perUnitMs(WARMUP + MEASURED);
      claims.set(testCase.label, result.claim);
      progress(`  claim:            ${describeLatency(result.claim)}`);
      progress(`  complete:         ${describeLatency(result.complete)}`);
      progress(`  claim + complete: ${describeLatency(result.both)}`);
      progress(`  ${cpu}`);
      progress(`  per claim:    ${result.perClaim}`);
      progress(`  per complete: ${result.perComplete}`);
      for (const line of result.serverTime) progress(`  ${line}`);

      report.rows.push({
        scenario: SCENARIO,
        metric: `claim p50 / p95, ${what}`,
        value: `${ms(result.claim.p50)} / ${ms(result.claim.p95)}`,
      });
      report.rows.push({
        scenario: SCENARIO,
        metric: '  server time of the claim statement (mean)',
        value: ms(result.claimStatementMs),
      });
      report.rows.push({
        scenario: SCENARIO,
        metric: '  CPU per claim+complete: node / postgres',
        value: `${ms(cpuPerRequest.node)} / ${ms(cpuPerRequest.postgres)}`,
      });
      report.rows.push({
        scenario: SCENARIO,
        metric: `  picking query plan (server's LIMIT / LIMIT 1)`,
        value: `${before.usesIndex ? 'index' : 'scan+sort'} ${ms(before.executionMs)} / ${constant.usesIndex ? 'index' : 'scan+sort'} ${ms(constant.executionMs)}`,
      });
      if (testCase.label === '10k' || testCase.label === '100k') {
        report.notes.push(`picking query with ${what} (EXPLAIN ANALYZE, BUFFERS; the server's LIMIT expression):`);
        report.notes.push(...before.lines.map((line) => `    ${line}`));
      }
      if (testCase === CASES[2]) {
        report.notes.push(`claims with ${what}, SQL statements sent by the server (counted on the ORM's knex events):`);
        report.notes.push(`    per claim:    ${result.perClaim}`);
        report.notes.push(`    per complete: ${result.perComplete}`);
        report.notes.push(...result.serverTime.map((line) => `  ${line}`));
      }
    }

    const ratioOf = (label: string) => {
      const large = claims.get(label)!;
      const small = claims.get('1k')!;
      return { p50: large.p50 / small.p50, p95: large.p95 / small.p95 };
    };
    const ratio = ratioOf('100k');
    progress(`claim p50 ratio 100k/1k = ${ratio.p50.toFixed(2)} (p95 ratio ${ratio.p95.toFixed(2)})`);
    report.rows.push({
      scenario: SCENARIO,
      metric: 'claim p50 ratio 100k / 1k pending',
      value: `${ratio.p50.toFixed(2)}× (p95 ${ratio.p95.toFixed(2)}×)`,
      target: `≤ ${TARGET_RATIO}×`,
      met: ratio.p50 <= TARGET_RATIO,
    });
    if (MAX_PENDING > 100_000) {
      const largest = ratioOf(LARGEST_LABEL);
      progress(`claim p50 ratio ${LARGEST_LABEL}/1k = ${largest.p50.toFixed(2)} (p95 ratio ${largest.p95.toFixed(2)})`);
      report.rows.push({
        scenario: SCENARIO,
        metric: `claim p50 ratio ${LARGEST_LABEL} / 1k pending`,
        value: `${largest.p50.toFixed(2)}× (p95 ${largest.p95.toFixed(2)}×)`,
        target: `≤ ${TARGET_LARGEST_RATIO}×`,
        met: largest.p50 <= TARGET_LARGEST_RATIO,
      });
    }
    for (const label of ['10k', '1k + 100k done']) {
      const other = ratioOf(label);
      report.rows.push({ scenario: SCENARIO, metric: `claim p50 ratio ${label} / 1k`, value: `${other.p50.toFixed(2)}× (p95 ${other.p95.toFixed(2)}×)` });
    }
    return report;
  } finally {
    await cleanup.runAll();
  }
}

async function measureClaims(bench: BenchServer, worker: BenchWorker, statements: StatementStats | undefined) {
  const claim: number[] = [];
  const complete: number[] = [];
  const both: number[] = [];
  const counter = new QueryCounter(bench.server.orm);
  try {
    for (let i = 0; i < WARMUP + MEASURED; i += 1) {
      const measuring = i >= WARMUP;
      if (i === WARMUP) await statements?.reset();
      counter.phase = measuring ? 'claim' : 'warmup';
      const t0 = performance.now();
      const answer = await bench.http.post<ClaimResponse>('/api/v1/workers/claim', worker.token, { max: 1, wait_s: 0 });
      const t1 = performance.now();
      const item = answer.work_requests[0];
      if (!item) throw new Error(`claim ${i} came back empty although requests are pending`);
      counter.phase = measuring ? 'complete' : 'warmup';
      await bench.http.post(`/api/v1/work-requests/${item.id}/complete`, worker.token, { result: 'success', output_data: {} });
      const t2 = performance.now();
      counter.phase = 'idle';
      if (measuring) {
        claim.push(t1 - t0);
        complete.push(t2 - t1);
        both.push(t2 - t0);
      }
    }
  } finally {
    counter.stop();
  }
  const claimSummary = summarize(claim);
  const completeSummary = summarize(complete);
  const describe = (phase: 'claim' | 'complete', summary: Summary) =>
    `${counter.breakdown(phase, MEASURED)} (the call took ${summary.mean.toFixed(2)} ms on average)`;
  return {
    claim: claimSummary,
    complete: completeSummary,
    both: summarize(both),
    perClaim: describe('claim', claimSummary),
    perComplete: describe('complete', completeSummary),
    serverTime: (await statements?.top(MEASURED)) ?? [],
    claimStatementMs: (await statements?.meanOf('prepare worksched_claim')) ?? Number.NaN,
  };
}

