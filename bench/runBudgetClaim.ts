/**
 * Scenario 16: claim cost with a budgeted run (issue 12). One database: a run with budget "X/h" and 1,000,000
 * past attempts (completed work_request rows of the run, set-based SQL; its ledgers — per-minute spend buckets
 * over 30 days, its worker row, the key's learned duration — as completions would have left them). Then, at once,
 * 100,000 pending plain requests (outside any run) and 100,000 pending tasks of the run, their ages interleaved in
 * blocks of BLOCK (claim order: BLOCK plain, BLOCK of the run, …), the budget high enough that each claim passes the
 * spend check (the ledger's window and the run's running attempts, the reservation of the claimed attempt, the
 * per-run lock the claim takes and the give-back statement). (a) plain and (b) budgeted claims thus alternate on one
 * server, database and worker, so machine drift (the machine is shared) falls on both alike, not on their ratio;
 * each claim's kind is checked from its answer, and the server time of the claim's statements (pg_stat_statements,
 * read at each block's end) is summed per kind. (c) paused: the run over its budget — its pending rows held — and
 * 1,000 plain requests behind them (younger). One worker makes single claims {max 1, wait_s 0} and completes each
 * (with a measured duration: completions book the run's cost). Target: claim p50 (b) ≤ 1.5× (a); (c) is shown
 * against (a) (the claim must not walk the held rows), just after the pause and after a vacuum. Housekeeping is stopped (its ETA passes over the
 * pending rows would hold back vacuum between phases); (c) pauses the run with one pass of it. BENCH_RUN_PAST / BENCH_RUN_PENDING make it smaller for a quick try; BENCH_RUN_BLOCK sets BLOCK (default 5).
 */
import type { ClaimResponse } from '../protocol/workerApi';
import { Cleanup, StatementStats, explainPick, insertRequests, progress, registerWorkers, startBenchServer, withTimeLimit, type BenchPostgres, type BenchServer, type BenchWorker } from './lib/harness';
import type { ScenarioReport } from './lib/report';
import { describeLatency, ms, summarize, type Summary } from './lib/stats';

const PAST = Number(process.env.BENCH_RUN_PAST) || 1_000_000;
const PENDING = Number(process.env.BENCH_RUN_PENDING) || 100_000;
const BEHIND_PAUSED = 1_000;
const WARMUP = 50;
const MEASURED = 500;
/** Claims of one kind in a row in the interleaved phase (plain, then the run's, then plain, …). */
const BLOCK = Number(process.env.BENCH_RUN_BLOCK) || 5;
const PLAIN_TASK_NAME = 'bench.noop';
const CLAIM_STATEMENTS = ['worksched_claim', 'worksched_keep_within_budget'] as const;
const TARGET_RATIO = 1.5;
const SCENARIO = '16 budgeted run claim';
const RUN_ID = 'bench-budgeted-run';
const TASK_NAME = 'bench.run';
/** The bench worker's price, and each past attempt's measured duration: 0.001 an attempt. */
const COST_PER_HOUR = 3.6;
const DURATION_MS = 1000;

export async function runBudgetClaim(postgres: BenchPostgres): Promise<ScenarioReport> {
  const cleanup = new Cleanup();
  try {
    const report: ScenarioReport = { rows: [], notes: [] };
    const bench = await startBenchServer(cleanup, postgres, 'runbudget');
    // No housekeeping in the background: its passes over 100,000 pending rows hold snapshots for seconds, which
    // keep vacuum from removing the dead rows of one phase before the next (phase (c) runs one pass itself).
    await bench.server.housekeeping.stop();
    const [worker] = await registerWorkers(bench, 'budget', 1, 1);
    await bench.sql.query(`update worker set cost_per_hour = $1 where id = $2`, [COST_PER_HOUR, worker.id]);
    const statements = await StatementStats.open(bench.sql);
    // A budget no claim here reaches: the spend check runs in full on every claim, and passes.
    await bench.http.post('/api/v1/workflows', bench.server.adminToken, { workflow_id: RUN_ID, open: true, budget: '1000000/h', tasks: [] });

    progress(`inserting ${PAST.toLocaleString('en-US')} past attempts of the run and its ledgers with SQL`);
    let start = performance.now();
    await insertPastAttempts(bench, worker, PAST);
    progress(`  inserted in ${((performance.now() - start) / 1000).toFixed(1)} s`);

    // (a) plain requests and (b) the run's own pending tasks, interleaved in claim order, claimed alternately.
    start = performance.now();
    await insertInterleaved(bench, PENDING);
    progress(`inserted ${PENDING.toLocaleString('en-US')} plain requests and ${PENDING.toLocaleString('en-US')} pending tasks of the run, interleaved in blocks of ${BLOCK}, in ${((performance.now() - start) / 1000).toFixed(1)} s`);
    const { plain, budgeted } = await measureInterleaved(bench, worker, statements);

    // The plain requests left out of the way (aborted: a delete checks the self-references row by row), and
    // vacuumed as autovacuum would: their dead entries must not sit at the front of the claim index.
    start = performance.now();
    await bench.sql.query(`update work_request set status = 'aborted', completed_at = now() where workflow_id is null and status = 'pending'`);
    await bench.sql.query('vacuum analyze work_request');
    progress(`set the plain requests left aside and vacuumed in ${((performance.now() - start) / 1000).toFixed(1)} s`);

    // (c) the run paused by its budget (its rows held by the check a completion or housekeeping runs), plain requests behind it.
    await bench.sql.query(`update workflow set budget = '0.01/h' where workflow_id = $1`, [RUN_ID]);
    start = performance.now();
    await bench.server.housekeeping.runOnce();
    const held = await bench.sql.query<{ held: string }>(`select count(*) as held from work_request where workflow_id = $1 and status = 'pending' and budget_held`, [RUN_ID]);
    progress(`paused the run: ${Number(held.rows[0].held).toLocaleString('en-US')} pending rows held (one housekeeping pass, ${((performance.now() - start) / 1000).toFixed(1)} s)`);
    await insertRequests(bench.sql, BEHIND_PAUSED);
    await bench.sql.query(`update work_request set created_at = now() where workflow_id is null and status = 'pending'`);
    await bench.sql.query('analyze work_request');
    // Just after the pause, the held rows' old versions are still in the claim index (dead: skipped, but read) …
    const paused = await measure(bench, worker, statements, 'paused', { claims: BEHIND_PAUSED / 2 - 50 });
    // … until vacuum (autovacuum's job) removes them.
    await bench.sql.query('vacuum analyze work_request');
    const vacuumed = await measure(bench, worker, statements, 'paused', { claims: BEHIND_PAUSED / 2 - 50 });

    const ratio = budgeted.claim.p50 / plain.claim.p50;
    const pausedRatio = paused.claim.p50 / plain.claim.p50;
    const vacuumedRatio = vacuumed.claim.p50 / plain.claim.p50;
    const what = `${PENDING.toLocaleString('en-US')} pending, ${PAST.toLocaleString('en-US')} past attempts`;
    report.rows.push({ scenario: SCENARIO, metric: `claim p50 / p95, plain requests (${what}, interleaved with the run's in blocks of ${BLOCK})`, value: `${ms(plain.claim.p50)} / ${ms(plain.claim.p95)}` });
    report.rows.push({ scenario: SCENARIO, metric: '  server time of the claim statements (mean)', value: ms(plain.statementMs) });
    report.rows.push({ scenario: SCENARIO, metric: `claim p50 / p95, tasks of a budgeted run (${PENDING.toLocaleString('en-US')} pending, the same claims)`, value: `${ms(budgeted.claim.p50)} / ${ms(budgeted.claim.p95)}` });
    report.rows.push({ scenario: SCENARIO, metric: '  server time of the claim statements (mean)', value: ms(budgeted.statementMs) });
    report.rows.push({
      scenario: SCENARIO,
      metric: 'claim p50 ratio budgeted / plain (interleaved)',
      value: `${ratio.toFixed(2)}× (p95 ${(budgeted.claim.p95 / plain.claim.p95).toFixed(2)}×; server time ${(budgeted.statementMs / plain.statementMs).toFixed(2)}×)`,
      target: `≤ ${TARGET_RATIO}×`,
      met: ratio <= TARGET_RATIO,
    });
    report.rows.push({
      scenario: SCENARIO,
      metric: `claim p50, plain requests behind a paused run's ${PENDING.toLocaleString('en-US')} held rows`,
      value: `${ms(paused.claim.p50)} = ${pausedRatio.toFixed(2)}× plain (picking ${paused.plan.executionMs} ms)`,
    });
    report.rows.push({
      scenario: SCENARIO,
      metric: '  the same after vacuum (autovacuum would)',
      value: `${ms(vacuumed.claim.p50)} = ${vacuumedRatio.toFixed(2)}× plain (picking ${vacuumed.plan.executionMs} ms)`,
    });
    report.notes.push(`${SCENARIO}, plain and budgeted (interleaved): picking query ${plain.plan.summary}`);
    for (const [label, result] of [['plain', plain], ['budgeted', budgeted], ['paused', paused], ['paused, vacuumed', vacuumed]] as const) {
      if (label.startsWith('paused')) report.notes.push(`${SCENARIO}, ${label}: picking query ${result.plan.summary}`);
      report.notes.push(`  ${label}: server time per statement of the claim transaction (mean): ${result.perStatement}`);
    }
    return report;
  } finally {
    await cleanup.runAll();
  }
}

/** Sum of execution time (ms) and calls of each claim statement so far (pg_stat_statements), to take differences of. */
async function statementTotals(bench: BenchServer, statements: StatementStats | undefined): Promise<Map<string, { ms: number; calls: number }>> {
  const totals = new Map<string, { ms: number; calls: number }>();
  if (!statements) return totals;
  const result = await bench.sql.query<{ name: string; ms: number | null; calls: string | null }>(
    `select n.name, sum(s.total_exec_time) as ms, sum(s.calls) as calls
     from unnest($1::text[]) n(name) left join pg_stat_statements s
       on s.dbid = (select oid from pg_database where datname = current_database()) and ltrim(s.query) like 'prepare ' || n.name || '(%'
     group by n.name`,
    [CLAIM_STATEMENTS],
  );
  for (const row of result.rows) totals.set(row.name, { ms: Number(row.ms ?? 0), calls: Number(row.calls ?? 0) });
  return totals;
}

/**
 * Claims (and completes) plain requests and the run's tasks alternately, BLOCK of each in turn, as the
 * interleaved ages make the claim order: WARMUP claims, then MEASURED of each kind. Each claim's kind is read
 * from its answer (and must be the one its block expects). The claim statements' server time is read before
 * and after each measured block and the difference added to the block's kind.
 */
async function measureInterleaved(bench: BenchServer, worker: BenchWorker, statements: StatementStats | undefined) {
  const plan = await explainPick(bench, worker);
  progress(`interleaved: EXPLAIN picking query: ${plan.summary}`);
  const kinds = ['plain', 'budgeted'] as const;
  type Kind = (typeof kinds)[number];
  const claims = new Map<Kind, number[]>(kinds.map((kind) => [kind, []]));
  const server = new Map<Kind, Map<string, { ms: number; calls: number }>>(
    kinds.map((kind) => [kind, new Map(CLAIM_STATEMENTS.map((name) => [name, { ms: 0, calls: 0 }]))]),
  );
  const total = WARMUP + 2 * MEASURED;
  await withTimeLimit('claims, interleaved', 360_000, async () => {
    for (let blockStart = 0; blockStart < total; blockStart += BLOCK) {
      const expected: Kind = kinds[Math.floor(blockStart / BLOCK) % 2];
      const measuring = blockStart >= WARMUP;
      const before = measuring ? await statementTotals(bench, statements) : undefined;
      for (let i = blockStart; i < Math.min(total, blockStart + BLOCK); i += 1) {
        const t0 = performance.now();
        const answer = await bench.http.post<ClaimResponse>('/api/v1/workers/claim', worker.token, { max: 1, wait_s: 0 });
        const t1 = performance.now();
        const item = answer.work_requests[0];
        if (!item) throw new Error(`interleaved: claim ${i} came back empty although requests are pending`);
        const kind: Kind = item.task_name === TASK_NAME ? 'budgeted' : 'plain';
        if (kind !== expected || (kind === 'plain' && item.task_name !== PLAIN_TASK_NAME)) {
          throw new Error(`interleaved: claim ${i} got a ${item.task_name} request, its block expects ${expected}`);
        }
        await bench.http.post(`/api/v1/work-requests/${item.id}/complete`, worker.token, { result: 'success', output_data: { runtime_statistics: { duration_ms: DURATION_MS } } });
        if (measuring) claims.get(kind)!.push(t1 - t0);
      }
      if (before) {
        const after = await statementTotals(bench, statements);
        for (const name of CLAIM_STATEMENTS) {
          const sum = server.get(expected)!.get(name)!;
          sum.ms += (after.get(name)?.ms ?? 0) - (before.get(name)?.ms ?? 0);
          sum.calls += (after.get(name)?.calls ?? 0) - (before.get(name)?.calls ?? 0);
        }
      }
    }
  });
  const result = (kind: Kind) => {
    const summary: Summary = summarize(claims.get(kind)!);
    const means = CLAIM_STATEMENTS.map((name) => {
      const sum = server.get(kind)!.get(name)!;
      return statements && sum.calls > 0 ? sum.ms / sum.calls : Number.NaN;
    });
    const perStatement = CLAIM_STATEMENTS.map((name, index) => `${name} ${ms(means[index])}`).join(', ');
    progress(`${kind} (interleaved): claim ${describeLatency(summary)}; server time ${perStatement}`);
    return { claim: summary, plan, statementMs: means.reduce((sum, value) => sum + (Number.isNaN(value) ? 0 : value), 0), perStatement };
  };
  return { plain: result('plain'), budgeted: result('budgeted') };
}

async function measure(bench: BenchServer, worker: BenchWorker, statements: StatementStats | undefined, label: string, options: { claims?: number } = {}) {
  const plan = await explainPick(bench, worker);
  progress(`${label}: EXPLAIN picking query: ${plan.summary}`);
  const measured = Math.min(MEASURED, (options.claims ?? Infinity) - WARMUP);
  const claim: number[] = [];
  await withTimeLimit(`claims, ${label}`, 180_000, async () => {
    for (let i = 0; i < WARMUP + measured; i += 1) {
      if (i === WARMUP) await statements?.reset();
      const t0 = performance.now();
      const answer = await bench.http.post<ClaimResponse>('/api/v1/workers/claim', worker.token, { max: 1, wait_s: 0 });
      const t1 = performance.now();
      const item = answer.work_requests[0];
      if (!item) throw new Error(`${label}: claim ${i} came back empty although requests are pending`);
      if (label === 'paused' && item.task_name === TASK_NAME) throw new Error('paused: a held task of the run was claimed');
      await bench.http.post(`/api/v1/work-requests/${item.id}/complete`, worker.token, { result: 'success', output_data: { runtime_statistics: { duration_ms: DURATION_MS } } });
      if (i >= WARMUP) claim.push(t1 - t0);
    }
  });
  const summary: Summary = summarize(claim);
  const names = ['worksched_claim', 'worksched_keep_within_budget'];
  const means = await Promise.all(names.map(async (name) => (await statements?.meanOf(`prepare ${name}`)) ?? Number.NaN));
  progress(`${label}: claim ${describeLatency(summary)}; server time ${names.map((name, index) => `${name} ${ms(means[index])}`).join(', ')}`);
  return {
    claim: summary,
    plan,
    statementMs: means.reduce((sum, value) => sum + (Number.isNaN(value) ? 0 : value), 0),
    perStatement: names.map((name, index) => `${name} ${ms(means[index])}`).join(', '),
  };
}

/**
 * The run's history as completions leave it: `count` completed attempts over the last 30 days (cost and
 * measured duration, on the bench worker), their spend per minute bucket in workflow_spend, the worker's row
 * in workflow_worker, and the key's learned duration in task_key (so each claim reserves an expected cost).
 */
export async function insertPastAttempts(bench: BenchServer, worker: BenchWorker, count: number): Promise<void> {
  const taskData = { execution: { executable: '/bin/true', args: [], parameters: {}, parameter_mapping: {}, env: {} }, use_history: true };
  const cost = (COST_PER_HOUR * DURATION_MS) / 3_600_000;
  await bench.sql.query(
    `insert into work_request (task_name, subject, context, status, result, priority, priority_adjustment, task_data, requirements,
       learned_requirements, need_tags, attempt, max_attempts, interrupt_allowed, user_metadata, output_data, workflow_id, task_id,
       worker_id, cost, created_at, started_at, completed_at)
     select $1, null, null, 'completed', 'success', 0, 0, $2::json, '{}'::jsonb, '[]'::jsonb, '{}'::text[], 1, 3, true, '{}'::jsonb,
       jsonb_build_object('runtime_statistics', jsonb_build_object('duration_ms', $6::int)), $3, 'past-' || g, $4, $5, t, t, t + interval '1 second'
     from generate_series(1, $7::int) g, lateral (select now() - interval '30 days' + g * (interval '30 days' / $7::int) - interval '2 seconds' as t) c`,
    [TASK_NAME, JSON.stringify(taskData), RUN_ID, worker.id, cost, DURATION_MS, count],
  );
  await bench.sql.query(
    `insert into workflow_spend (workflow_id, bucket_start, cost)
     select workflow_id, to_timestamp(floor(extract(epoch from completed_at) / 60) * 60), sum(cost)
     from work_request where workflow_id = $1 group by 1, 2`,
    [RUN_ID],
  );
  await bench.sql.query(
    `insert into workflow_worker (workflow_id, worker_id, tasks, successes, results, cost, work_ms)
     select workflow_id, worker_id, count(*), count(*), count(*), sum(cost), count(*) * $2::bigint from work_request where workflow_id = $1 group by 1, 2`,
    [RUN_ID, DURATION_MS],
  );
  await bench.sql.query(
    `insert into task_key (task_name, subject, context, runs, successes, failures, timed_runs, duration_ms_sum, cost, last_run_at)
     values ($1, '', '', $2::int, $2::int, 0, $2::int, $2::bigint * $3::int, $2::int * $4::float8, now())
     on conflict (task_name, subject, context) do update set timed_runs = excluded.timed_runs, duration_ms_sum = excluded.duration_ms_sum`,
    [TASK_NAME, count, DURATION_MS, cost],
  );
  await bench.sql.query('analyze work_request');
}

/**
 * `count` plain pending requests (as insertRequests makes them) and `count` pending tasks of the run (task ids
 * task-N, as POST /workflows/:id/tasks leaves them once released), their ages interleaved in blocks of BLOCK:
 * in claim order BLOCK plain ones, BLOCK of the run, and so on.
 */
export async function insertInterleaved(bench: BenchServer, count: number): Promise<void> {
  const taskData = { execution: { executable: '/bin/true', args: [], parameters: {}, parameter_mapping: {}, env: {} }, use_history: true };
  // Position in claim order of the g-th row (from 1) of a kind: its block's start (blocks alternate kinds) + its place in it.
  // One base time for both statements (each has its own now()).
  const base = (await bench.sql.query<{ base: Date }>(`select now() - interval '1 hour' as base`)).rows[0].base;
  const at = (kind: number, parameter: string) =>
    `${parameter}::timestamptz + (((g - 1) / ${BLOCK}) * ${2 * BLOCK} + ${kind * BLOCK} + (g - 1) % ${BLOCK}) * interval '1 microsecond'`;
  await bench.sql.query(
    `insert into work_request (task_name, subject, context, status, priority, priority_adjustment, task_data, requirements,
       learned_requirements, need_tags, attempt, max_attempts, interrupt_allowed, user_metadata, created_at)
     select $1, null, null, 'pending', 0, 0, $2::json, '{}'::jsonb, '[]'::jsonb, '{}'::text[], 1, 3, true, '{}'::jsonb, ${at(0, '$4')}
     from generate_series(1, $3::int) g`,
    [PLAIN_TASK_NAME, JSON.stringify(taskData), count, base],
  );
  await bench.sql.query(
    `insert into work_request (task_name, subject, context, status, priority, priority_adjustment, task_data, requirements,
       learned_requirements, need_tags, attempt, max_attempts, interrupt_allowed, user_metadata, workflow_id, task_id, created_at)
     select $1, null, null, 'pending', 0, 0, $2::json, '{}'::jsonb, '[]'::jsonb, '{}'::text[], 1, 3, true, '{}'::jsonb, $3, 'task-' || g, ${at(1, '$5')}
     from generate_series(1, $4::int) g`,
    [TASK_NAME, JSON.stringify(taskData), RUN_ID, count, base],
  );
  await bench.sql.query('analyze work_request');
}
