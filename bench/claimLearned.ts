/**
 * Scenario 6: claim latency with learned requirements on 100,000 pending requests, against the plain claim
 * measured the same way in the same run (one database, one server).
 *
 * - History: 1,000 keys (bench.learned/key-N), 20 successful runs each, inserted with SQL. Half the keys (chosen
 *   at random, seeded) peak at 30 MiB–3.1 GiB of memory, the other half at 3.2–44 GiB; disk 1 MiB–22 GiB;
 *   70 % of the keys keep one core busy, 20 % two, 10 % four; durations 1 s–10 min.
 * - Requirements: the server's own learnRequirements (server/history/learnRequirements.ts) is run once per key
 *   with the server's headroom, and unschedulableReason against the registered workers, exactly as
 *   createWorkRequest does; then 100,000 pending requests are inserted with SQL carrying those columns
 *   (learned_requirements, need_memory / need_disk / need_cpu, unschedulable_reason; the other columns as
 *   bench/lib/harness.ts insertRequests sets them), keys round-robin in creation (= claim) order, so the
 *   requests a 4 GiB worker can run (about half) are interleaved with those it cannot. Then ANALYZE.
 * - Workers: one with 4 GiB (4 cpus) and one with 64 GiB (32 cpus), both with 100 GiB of disk.
 * - Cases, each on a freshly filled table: plain (no requirements, insertRequests; the 4 GiB worker claims),
 *   learned with the 4 GiB worker claiming, learned with the 64 GiB worker claiming. In each, 50 warm-up + 500
 *   measured single claims {max 1, wait_s 0}, each completed before the next (as bench/claimCost.ts does).
 * Target: the learned claim p50 within 2× of the plain one, for both workers. Also the EXPLAIN (ANALYZE,
 * BUFFERS) of the claim's picking query (claimPickingQuery(workerId, 1), enable_sort off: explainPick) for the
 * 4 GiB worker at 100k, before its claims and after them.
 */
import os from 'node:os';
import type { ClaimResponse, RegisterWorkerResponse, WorkerResources } from '../protocol/workerApi';
import { formatBytes } from '../protocol/units';
import { compileServerConfig } from '../server/config';
import { historyLevels } from '../server/history/historyKey';
import { learnRequirements } from '../server/history/learnRequirements';
import { loadWorkerCapacities } from '../server/scheduler/refreshUnschedulable';
import { claimStatement } from '../server/sql/claim';
import { successProfileQuery } from '../server/sql/successProfile';
import { unschedulableReason } from '../server/scheduler/unschedulableReason';
import {
  Cleanup,
  StatementStats,
  explainPick,
  explainStatement,
  insertRequests,
  progress,
  startBenchServer,
  withTimeLimit,
  type BenchPostgres,
  type BenchServer,
  type BenchWorker,
} from './lib/harness';
import type { ScenarioReport } from './lib/report';
import { CpuMeter, describeLatency, ms, summarize, type Summary } from './lib/stats';

const SCENARIO = '6 claim, learned reqs';
const KEYS = 1_000;
const RUNS_PER_KEY = 20;
const PENDING = 100_000;
const WARMUP = 50;
const MEASURED = 500;
const TARGET_RATIO = 2;
const TASK_NAME = 'bench.learned';
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

const SMALL: WorkerResources = { cpu_count: 4, total_memory: 4 * GiB, available_memory: 3 * GiB, available_disk_space: 100 * GiB, gpus: [] };
const LARGE: WorkerResources = { cpu_count: 32, total_memory: 64 * GiB, available_memory: 60 * GiB, available_disk_space: 100 * GiB, gpus: [] };

export async function runClaimLearned(postgres: BenchPostgres): Promise<ScenarioReport> {
  const cleanup = new Cleanup();
  try {
    const bench = await startBenchServer(cleanup, postgres, 'learned');
    const small = await registerWorker(bench, 'learned-4gib', SMALL);
    const large = await registerWorker(bench, 'learned-64gib', LARGE);
    const report: ScenarioReport = { rows: [], notes: [] };
    const statements = await StatementStats.open(bench.sql);

    progress(`history: ${KEYS.toLocaleString('en-US')} keys × ${RUNS_PER_KEY} successful runs into task_history (SQL)`);
    await insertHistory(bench);
    const headroom = compileServerConfig({ databaseUrl: 'postgres://unused', dataDir: os.tmpdir() }).learnedHeadroom;
    const learnStart = performance.now();
    const keys = await learnPerKey(bench, headroom);
    progress(`  learnRequirements for ${KEYS.toLocaleString('en-US')} keys (headroom ${headroom}): ${((performance.now() - learnStart) / 1000).toFixed(2)} s`);
    const fitsSmall = keys.filter((key) => (key.need_memory ?? 0) <= SMALL.total_memory && (key.need_cpu ?? 0) <= SMALL.cpu_count && (key.need_disk ?? 0) <= SMALL.available_disk_space).length;
    const example = keys.find((key) => key.learned.length >= 3) ?? keys[0];
    const profile = await explainStatement(bench, successProfileQuery(historyLevels({ taskName: TASK_NAME, subject: example.subject, context: '' })[0], 50));
    progress(`  EXPLAIN learned-requirements query (successProfileQuery, one key, newest 50 successful runs): ${profile.summary}`);
    progress(`  ${fitsSmall} of ${KEYS} keys fit the 4 GiB worker; need_memory ${formatBytes(Math.min(...keys.map((key) => key.need_memory ?? 0)))}–${formatBytes(Math.max(...keys.map((key) => key.need_memory ?? 0)))}; e.g. ${example.subject}: ${example.learned.map((item) => item.reason).join(' | ')}`);

    const cases: Array<{ label: string; learned: boolean; worker: BenchWorker; what: string }> = [
      { label: 'plain', learned: false, worker: small, what: 'plain (no requirements), 4 GiB worker' },
      { label: 'learned-4gib', learned: true, worker: small, what: 'learned requirements, 4 GiB worker' },
      { label: 'learned-64gib', learned: true, worker: large, what: 'learned requirements, 64 GiB worker' },
    ];
    const results = new Map<string, Summary>();
    const statementPlans = new Map<string, string>();
    for (const testCase of cases) {
      await bench.sql.query('truncate work_request cascade');
      const insertStart = performance.now();
      if (testCase.learned) await insertLearnedRequests(bench, keys);
      else await insertRequests(bench.sql, PENDING);
      const share = await bench.sql.query<{ runnable: string }>(
        `select count(*) filter (where coalesce(need_memory, 0) <= $1 and coalesce(need_cpu, 0) <= $2 and coalesce(need_disk, 0) <= $3) as runnable
         from work_request where status = 'pending'`,
        [testCase.worker === small ? SMALL.total_memory : LARGE.total_memory, testCase.worker === small ? SMALL.cpu_count : LARGE.cpu_count, SMALL.available_disk_space],
      );
      const runnable = Number(share.rows[0].runnable);
      progress(
        `case ${testCase.what}: ${PENDING.toLocaleString('en-US')} pending inserted + ANALYZE in ${((performance.now() - insertStart) / 1000).toFixed(2)} s; ` +
          `the claiming worker can run ${runnable.toLocaleString('en-US')} (${((runnable / PENDING) * 100).toFixed(1)}%)`,
      );

      const before = await explainPick(bench, testCase.worker);
      progress(`  EXPLAIN picking query: ${before.summary}`);
      const statement = await explainClaimStatement(bench, testCase.worker);
      progress(`  EXPLAIN whole claim statement: ${statement.summary}`);
      statementPlans.set(testCase.label, statement.join);
      if (testCase.label === 'plain' || testCase.label === 'learned-4gib') {
        report.notes.push(`whole claim statement, ${testCase.what}, ${PENDING.toLocaleString('en-US')} pending (EXPLAIN ANALYZE, BUFFERS of the text claimWorkRequests sends; enable_sort off; worker InitPlans left out):`);
        report.notes.push(...statement.lines.map((line) => `    ${line}`));
      }
      if (testCase.label === 'learned-4gib') {
        report.notes.push(`picking query, 4 GiB worker, ${PENDING.toLocaleString('en-US')} pending with learned requirements (EXPLAIN ANALYZE, BUFFERS; enable_sort off; claimPickingQuery(workerId, 1)):`);
        report.notes.push(...before.lines.map((line) => `    ${line}`));
        for (const line of before.lines) progress(`    ${line}`);
      }

      progress(`  ${WARMUP} warm-up + ${MEASURED} measured claims {max 1, wait_s 0} → complete`);
      const meter = new CpuMeter();
      const result = await withTimeLimit(`claims, ${testCase.what}`, 120_000, () => measureClaims(bench, testCase.worker, statements));
      const cpu = meter.perUnitMs(WARMUP + MEASURED);
      results.set(testCase.label, result.claim);
      progress(`  claim:    ${describeLatency(result.claim)}`);
      progress(`  complete: ${describeLatency(result.complete)}`);
      progress(`  claim p50, first 100 measured / last 100: ${ms(result.first.p50)} / ${ms(result.last.p50)}; claim statement (pg_stat_statements): ${ms(result.claimStatementMs)} server time, ${result.claimStatementBlocks.toFixed(0)} shared blocks per call`);
      progress(`  CPU per claim+complete: node ${ms(cpu.node)}, postgres ${ms(cpu.postgres)}`);
      report.rows.push(
        { scenario: SCENARIO, metric: `claim p50 / p95, ${testCase.what}`, value: `${ms(result.claim.p50)} / ${ms(result.claim.p95)}` },
        { scenario: SCENARIO, metric: '  claim p50, first / last 100 of the measured', value: `${ms(result.first.p50)} / ${ms(result.last.p50)}` },
        {
          scenario: SCENARIO,
          metric: '  claim statement: server time (mean) / blocks per call',
          value: `${ms(result.claimStatementMs)} / ${result.claimStatementBlocks.toFixed(0)}`,
        },
        { scenario: SCENARIO, metric: '  whole claim statement plan at the start', value: statement.short },
        {
          scenario: SCENARIO,
          metric: '  picking query plan at the start',
          value: `${before.usesIndex ? 'index' : 'scan+sort'} ${ms(before.executionMs)}${rowsRemoved(before.lines)}`,
        },
      );
      if (testCase.label === 'learned-4gib') {
        // What its own claims left at the head of the queue: requests it cannot run stay pending in front.
        const after = await explainPick(bench, testCase.worker);
        progress(`  EXPLAIN picking query after its ${WARMUP + MEASURED} claims: ${after.summary}${rowsRemoved(after.lines)}`);
        report.rows.push({ scenario: SCENARIO, metric: `  picking query plan after ${WARMUP + MEASURED} claims`, value: `${after.usesIndex ? 'index' : 'scan+sort'} ${ms(after.executionMs)}${rowsRemoved(after.lines)}` });
        report.notes.push(`  after the 4 GiB worker's ${WARMUP + MEASURED} claims: ${after.summary}${rowsRemoved(after.lines)}`);
      }
    }

    const plans = new Set(statementPlans.values());
    if (plans.size > 1) {
      const line =
        `the UPDATE of the claim statement does not run the same plan in every case (${[...statementPlans.entries()].map(([label, plan]) => `${label}: ${plan}`).join('; ')}): ` +
        'the learned/plain ratios compare those plans as much as the requirement filters (the picking query alone: see its rows above)';
      progress(line);
      report.notes.push(line);
    }
    const plain = results.get('plain')!;
    for (const [label, what] of [
      ['learned-4gib', '4 GiB worker'],
      ['learned-64gib', '64 GiB worker'],
    ] as const) {
      const learned = results.get(label)!;
      const ratio = { p50: learned.p50 / plain.p50, p95: learned.p95 / plain.p95 };
      progress(`claim p50 ratio learned (${what}) / plain = ${ratio.p50.toFixed(2)} (p95 ratio ${ratio.p95.toFixed(2)})`);
      report.rows.push({
        scenario: SCENARIO,
        metric: `claim p50 ratio learned / plain, ${what}`,
        value: `${ratio.p50.toFixed(2)}× (p95 ${ratio.p95.toFixed(2)}×)`,
        target: `≤ ${TARGET_RATIO}×`,
        met: ratio.p50 <= TARGET_RATIO,
      });
    }
    return report;
  } finally {
    await cleanup.runAll();
  }
}

async function registerWorker(bench: BenchServer, name: string, resources: WorkerResources): Promise<BenchWorker> {
  const answer = await bench.http.post<RegisterWorkerResponse>('/api/v1/workers/register', bench.server.enrollmentToken, { name, resources, concurrency: 1 });
  return { id: answer.worker.id, name: answer.worker.name, token: answer.token };
}

/** Deterministic pseudo-random numbers (mulberry32): the same history every run. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function insertHistory(bench: BenchServer): Promise<void> {
  const random = seeded(20261121);
  const between = (low: number, high: number) => low + random() * (high - low);
  const subject: string[] = [];
  const duration: number[] = [];
  const cpuTime: number[] = [];
  const memory: number[] = [];
  const disk: number[] = [];
  for (let key = 0; key < KEYS; key += 1) {
    const bigMemory = random() < 0.5;
    const memoryBase = bigMemory ? between(3.2 * GiB, 40 * GiB) : between(30 * MiB, 2.8 * GiB);
    const diskBase = between(1 * MiB, 20 * GiB);
    const coresDraw = random();
    const cores = coresDraw < 0.7 ? 0.95 : coresDraw < 0.9 ? 1.9 : 3.8;
    const durationBase = between(1_000, 600_000);
    for (let run = 0; run < RUNS_PER_KEY; run += 1) {
      const jitter = () => between(0.9, 1.1);
      const ms = Math.round(durationBase * jitter());
      subject.push(`key-${key}`);
      duration.push(ms);
      cpuTime.push(Math.round(ms * cores * between(0.97, 1.0)));
      memory.push(Math.round(memoryBase * jitter()));
      disk.push(Math.round(diskBase * jitter()));
    }
  }
  await bench.sql.query(
    `insert into task_history (task_name, subject, context, work_request_id, attempt, result, duration_ms, cpu_time_ms, memory,
       disk_space, measurement, started_at, completed_at)
     select $1, h.subject, '', null, 1, 'success', h.duration_ms, h.cpu_time_ms, h.memory, h.disk_space, 'cgroup-v2',
       now() - interval '2 days' + h.ord * interval '1 second' - h.duration_ms * interval '1 millisecond',
       now() - interval '2 days' + h.ord * interval '1 second'
     from unnest($2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[]) with ordinality
       as h(subject, duration_ms, cpu_time_ms, memory, disk_space, ord)`,
    [TASK_NAME, subject, duration, cpuTime, memory, disk],
  );
  await bench.sql.query('analyze task_history');
}

interface LearnedKey {
  index: number;
  subject: string;
  learned: Array<{ resource: string; value: number; reason: string }>;
  need_memory: number | null;
  need_disk: number | null;
  need_cpu: number | null;
  unschedulable_reason: string | null;
}

/** What createWorkRequest would store for a spec of each key with no explicit resources and use_history on. */
async function learnPerKey(bench: BenchServer, headroom: number): Promise<LearnedKey[]> {
  const em = bench.server.orm.em.fork();
  const workers = await loadWorkerCapacities(em);
  const keys: LearnedKey[] = [];
  for (let index = 0; index < KEYS; index += 1) {
    const subject = `key-${index}`;
    const effective = await learnRequirements(em, { taskName: TASK_NAME, subject, context: '' }, {}, { headroom, sampleRuns: 50 });
    keys.push({
      index,
      subject,
      learned: effective.learned,
      need_memory: effective.needMemory,
      need_disk: effective.needDisk,
      need_cpu: effective.needCpu,
      unschedulable_reason: unschedulableReason(effective, workers),
    });
  }
  return keys;
}

/**
 * PENDING pending requests, keys round-robin in creation order (request g has key (g − 1) mod KEYS), with the
 * columns createWorkRequest sets for a spec with use_history and no explicit resources; then ANALYZE.
 */
async function insertLearnedRequests(bench: BenchServer, keys: LearnedKey[]): Promise<void> {
  const taskData = { execution: { executable: '/bin/true', args: [], parameters: {}, parameter_mapping: {}, env: {} }, use_history: true };
  await bench.sql.query(
    `with keys as (
       select * from jsonb_to_recordset($2::jsonb)
         as k(index int, subject text, learned jsonb, need_memory bigint, need_disk bigint, need_cpu int, unschedulable_reason text)
     )
     insert into work_request (task_name, subject, context, status, result, state_reason, priority, priority_adjustment,
       task_data, requirements, learned_requirements, need_memory, need_disk, need_cpu, need_gpu, need_tags,
       unschedulable_reason, attempt, max_attempts, time_limit_s, interrupt_allowed, user_metadata, output_data,
       created_at, started_at, completed_at)
     select $3, k.subject, null, 'pending', null, null, 0, 0,
       $1::json, '{}'::jsonb, k.learned, k.need_memory, k.need_disk, k.need_cpu, null, '{}'::text[],
       k.unschedulable_reason, 1, 3, null, true, '{}'::jsonb, null,
       t, null, null
     from generate_series(1, $4::int) g
       join keys k on k.index = (g - 1) % $5::int
       cross join lateral (select now() - interval '1 hour' + g * interval '1 microsecond' as t) c
     order by g`,
    [JSON.stringify(taskData), JSON.stringify(keys), TASK_NAME, PENDING, KEYS],
  );
  await bench.sql.query('analyze work_request');
}

async function measureClaims(bench: BenchServer, worker: BenchWorker, statements: StatementStats | undefined) {
  const claim: number[] = [];
  const complete: number[] = [];
  for (let i = 0; i < WARMUP + MEASURED; i += 1) {
    if (i === WARMUP) await statements?.reset();
    const t0 = performance.now();
    const answer = await bench.http.post<ClaimResponse>('/api/v1/workers/claim', worker.token, { max: 1, wait_s: 0 });
    const t1 = performance.now();
    const item = answer.work_requests[0];
    if (!item) throw new Error(`claim ${i} of worker ${worker.name} came back empty although requests it can run are pending`);
    await bench.http.post(`/api/v1/work-requests/${item.id}/complete`, worker.token, { result: 'success', output_data: {} });
    const t2 = performance.now();
    if (i >= WARMUP) {
      claim.push(t1 - t0);
      complete.push(t2 - t1);
    }
  }
  return {
    claim: summarize(claim),
    complete: summarize(complete),
    first: summarize(claim.slice(0, 100)),
    last: summarize(claim.slice(-100)),
    claimStatementMs: (await statements?.meanOf('prepare worksched_claim')) ?? Number.NaN,
    claimStatementBlocks: statements ? await blocksPerCall(bench, 'prepare worksched_claim') : Number.NaN,
  };
}

/** Shared buffers touched per call (hit + read) of the statements starting with `prefix`, from pg_stat_statements. */
async function blocksPerCall(bench: BenchServer, prefix: string): Promise<number> {
  const result = await bench.sql.query<{ blocks: number | null }>(
    `select sum(shared_blks_hit + shared_blks_read)::float8 / nullif(sum(calls), 0) as blocks from pg_stat_statements
     where dbid = (select oid from pg_database where datname = current_database()) and ltrim(query) like $1`,
    [`${prefix}%`],
  );
  return Number(result.rows[0]?.blocks ?? Number.NaN);
}

/**
 * The claim statement exactly as the server sends it (claimStatement, the builder claimWorkRequests uses),
 * EXPLAINed (ANALYZE, BUFFERS) in a transaction with enable_sort off, as the server runs it, and rolled back.
 */
async function explainClaimStatement(bench: BenchServer, worker: BenchWorker): Promise<{ join: string; summary: string; short: string; lines: string[] }> {
  const statement = claimStatement(worker.id, 1).text;
  await bench.sql.query('begin');
  let lines: string[];
  try {
    await bench.sql.query(`select set_config('enable_sort', 'off', true)`);
    const result = await bench.sql.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers) ${statement}`);
    lines = result.rows.map((row) => row['QUERY PLAN']);
  } finally {
    await bench.sql.query('rollback');
  }
  // How the UPDATE finds the picked row: the node under "Update on work_request w" that joins `picked`.
  const join = lines.find((line) => /->\s+(Hash Join|Nested Loop|Merge Join)/.test(line))?.trim().replace(/^->\s+/, '').replace(/\s+\(cost.*$/, '') ?? '?';
  const target = lines.find((line) => /Scan.* on work_request w\b/.test(line))?.trim().replace(/^->\s+/, '');
  const targetShort = target?.replace(/\s+\(cost.*$/, '') ?? '?';
  const targetRows = target ? /\(actual[^)]*rows=([\d.]+)/.exec(target)?.[1] : undefined;
  const picked = lines.find((line) => /CTE Scan on picked/.test(line));
  const pickedEstimate = picked ? /\(cost=[^)]*rows=(\d+)/.exec(picked)?.[1] : undefined;
  const execution = lines.find((line) => line.startsWith('Execution Time'))?.trim() ?? '?';
  const executionMs = Number(/([\d.]+) ms/.exec(execution)?.[1] ?? Number.NaN);
  const buffers = lines.find((line) => line.trim().startsWith('Buffers:'))?.trim() ?? '';
  const rowsRead = targetRows === undefined ? '' : ` reading ${Number(targetRows).toLocaleString('en-US')} rows`;
  // Worker look-ups (InitPlans on worker_pkey) are the same in every case: left out of the printed plan.
  const indent = (line: string) => /^\s*/.exec(line)![0].length;
  const shown: string[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    if (/^\s+InitPlan \d+/.test(lines[i]) && /worker_pkey/.test(lines[i + 1] ?? '')) {
      const depth = indent(lines[i]);
      while (i + 1 < lines.length && indent(lines[i + 1]) > depth) i += 1;
      continue;
    }
    shown.push(lines[i]);
  }
  return {
    join: `${join} / ${targetShort.replace(/ on work_request w$/, '')}`,
    summary: `${join} with ${targetShort}${rowsRead} (planner expects ${pickedEstimate ?? '?'} picked rows); ${buffers}; ${execution}`,
    short: `${join} / ${targetShort.replace(/ on work_request w$/, '')}${rowsRead} ${ms(executionMs)}`,
    lines: shown,
  };
}

/** "; 812 rows removed by filter" from the plan's scan of work_request, when it says so. */
function rowsRemoved(lines: string[]): string {
  const scan = lines.findIndex((text) => /Scan.*on work_request r\b/.test(text));
  const line = scan < 0 ? undefined : lines.slice(scan + 1).find((text) => /Rows Removed by Filter/.test(text) || /->/.test(text));
  const count = line ? /Rows Removed by Filter: (\d+)/.exec(line)?.[1] : undefined;
  return count === undefined ? '' : `; ${Number(count).toLocaleString('en-US')} rows removed by filter`;
}
