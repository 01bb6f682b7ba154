/**
 * Scenario 1: end-to-end no-op throughput. Pending requests (20,000 for A, the N of the comparison with pg-boss and
 * graphile-worker, BENCH_PEERS_N; 10,000 for B, C and D, BENCH_THROUGHPUT_TOTAL), claimed and completed over HTTP by
 * simulated worker slots:
 *   A. 32 workers × concurrency 1, each slot: claim {max 1, wait_s 1} → complete         (requests made over HTTP)
 *   B. 8 workers × concurrency 4, each worker: claim {max 4, wait_s 1} → complete all 4   (batching)
 *   C. 8 workers × concurrency 4, 4 slots per worker each claiming {max 1}                 (same-worker claims)
 *   D. as A, but every request has its own history key (subject)                          (no shared task_key row)
 *   E. as A, batched protocol: each claim carries the previous claim's result              (one call per job)
 *   F. as B, batched protocol: each claim {max 4} carries the previous 4 results           (one call per 4 jobs)
 * Requests for A are created over HTTP (POST /api/v1/work-requests, 16 in flight) for up to CREATE_LIMIT_S, the
 * rest with SQL; B, C and D get theirs with SQL (insert … select generate_series, same columns as the server).
 * Each variant stops at its time limit if it has not finished by then: the rate is what was done in that time.
 * Before them: BENCH_PEERS_SEQUENTIAL (1,000) creates one at a time, one after another (the sequential create rate),
 * and, when the server has POST /api/v1/work-requests/batch, the N requests in batches of 1,000 (batch create rate).
 */
import type { ClaimResponse } from '../protocol/workerApi';
import type { WorkRequest } from '../protocol/workRequest';
import {
  ActivitySampler,
  Cleanup,
  StatementStats,
  calibrate,
  explainPick,
  NOOP_SPEC,
  insertRequests,
  progress,
  registerWorkers,
  startBenchServer,
  withTimeLimit,
  type BenchPostgres,
  type BenchServer,
  type BenchWorker,
} from './lib/harness';
import { COMPARED_BATCH, COMPARED_N, COMPARED_SEQUENTIAL, COMPARED_SEQUENTIAL_WARMUP } from './lib/compared';
import { BenchHttpError } from './lib/http';
import type { ScenarioReport } from './lib/report';
import { CpuMeter, describeLatency, ms, rate, summarize } from './lib/stats';

const TOTAL = Number(process.env.BENCH_THROUGHPUT_TOTAL) || 10_000;
const CREATE_CONCURRENCY = 16;
const CREATE_LIMIT_S = 30;
const VARIANT_LIMIT_S = Number(process.env.BENCH_VARIANT_LIMIT_S) || 30;
/** Variant A drains the comparison's N: at today's ~450/s, 20,000 take about 45 s. */
const VARIANT_A_LIMIT_S = Number(process.env.BENCH_VARIANT_A_LIMIT_S) || 60;
const SERIAL_CREATES = 100;
/** The sequential create rate stops here if COMPARED_SEQUENTIAL creates take longer (a loaded machine). */
const SEQUENTIAL_LIMIT_S = 30;
const TARGET_PER_S = 1_000;
const SCENARIO = '1 throughput';

export async function runThroughput(postgres: BenchPostgres): Promise<ScenarioReport> {
  const cleanup = new Cleanup();
  try {
    const bench = await startBenchServer(cleanup, postgres, 'throughput');
    const report: ScenarioReport = { rows: [], notes: [], figures: {} };
    const statements = await StatementStats.open(bench.sql);
    const floor = await calibrate(bench);
    progress(floor.line);
    report.rows.push({ scenario: SCENARIO, metric: 'floor p50: select 1 / GET /healthz', value: `${ms(floor.sqlP50)} / ${ms(floor.healthP50)}` });
    // Workers first, so that requests are created schedulable (no "no worker can run it" reason).
    const workersA = await registerWorkers(bench, 'a', 32, 1);
    const workersB = await registerWorkers(bench, 'b', 8, 4);
    const workersC = await registerWorkers(bench, 'c', 8, 4);
    const workersD = await registerWorkers(bench, 'd', 32, 1);
    const workersE = await registerWorkers(bench, 'e', 32, 1);
    const workersF = await registerWorkers(bench, 'f', 8, 4);
    const workersG = await registerWorkers(bench, 'g', 1, 32);
    const workersH = await registerWorkers(bench, 'h', 4, 8);
    const [probe] = await registerWorkers(bench, 'probe', 1, 1);

    await serialCreates(bench, COMPARED_SEQUENTIAL_WARMUP, SEQUENTIAL_LIMIT_S * 1000);
    const emptyHistory = await serialCreates(bench, COMPARED_SEQUENTIAL, SEQUENTIAL_LIMIT_S * 1000);
    const sequentialPerS = emptyHistory.n / emptyHistory.seconds;
    progress(`${emptyHistory.n} creates one at a time, sequentially, empty history, after ${COMPARED_SEQUENTIAL_WARMUP.toLocaleString('en-US')} untimed (at most ${COMPARED_SEQUENTIAL} or ${SEQUENTIAL_LIMIT_S} s): ${rate(sequentialPerS)}; ${describeLatency(emptyHistory)}`);
    report.rows.push({ scenario: SCENARIO, metric: 'one-at-a-time create rate, sequential', value: rate(sequentialPerS) });
    const batch = await batchCreates(bench, COMPARED_N);
    progress(`batch create: ${batch.line}`);
    report.rows.push({ scenario: SCENARIO, metric: `batch create rate (batches of ${COMPARED_BATCH.toLocaleString('en-US')})`, value: batch.perS === undefined ? batch.line : rate(batch.perS) });
    if (batch.perS !== undefined) report.figures!.batchCreatePerS = batch.perS;
    await bench.sql.query(`update work_request set status = 'aborted' where status = 'pending'`);

    // --- requests for A, over HTTP ---
    progress(`creating ${COMPARED_N.toLocaleString('en-US')} requests over HTTP, ${CREATE_CONCURRENCY} in flight (at most ${CREATE_LIMIT_S} s; the rest with SQL)`);
    await statements?.reset();
    const created = await createOverHttp(bench, COMPARED_N, CREATE_CONCURRENCY, CREATE_LIMIT_S * 1000);
    progress(`  ${created.count.toLocaleString('en-US')} created in ${created.seconds.toFixed(2)} s = ${rate(created.count / created.seconds)}`);
    progress(`  ${created.cpu}`);
    progress(`  server connections (avg): ${created.activity}`);
    for (const line of (await statements?.top(created.count, 6)) ?? []) progress(`  ${line}`);
    report.rows.push({
      scenario: SCENARIO,
      metric: `HTTP create rate (${CREATE_CONCURRENCY} in flight)`,
      value: `${rate(created.count / created.seconds)} (${created.count.toLocaleString('en-US')} in ${created.seconds.toFixed(1)} s)`,
    });
    if (created.count < COMPARED_N) {
      progress(`  inserting the other ${(COMPARED_N - created.count).toLocaleString('en-US')} with SQL`);
      await insertRequests(bench.sql, COMPARED_N - created.count);
    }

    const variants: Array<{ label: string; metric: string; slots: Slot[]; total: number; limitS: number; prepare?: () => Promise<void>; target?: boolean; compared?: boolean }> = [
      {
        label: `A: two-call protocol, 32 workers × concurrency 1, claim {max 1, wait_s 1} → complete, ${COMPARED_N.toLocaleString('en-US')} requests`,
        metric: `A: two-call protocol, 32 workers × 1, claim max 1 → complete (${COMPARED_N.toLocaleString('en-US')})`,
        slots: workersA.map((worker) => ({ worker, max: 1 })),
        total: COMPARED_N,
        limitS: VARIANT_A_LIMIT_S,
        target: true,
      },
      {
        label: 'B: 8 workers × concurrency 4, claim {max 4, wait_s 1} → complete the batch in parallel',
        metric: 'B: 8 workers × 4, claim max 4 → complete batch',
        slots: workersB.map((worker) => ({ worker, max: 4 })),
        total: TOTAL,
        limitS: VARIANT_LIMIT_S,
        prepare: () => insertRequests(bench.sql, TOTAL),
      },
      {
        label: 'C: 8 workers × concurrency 4, one loop per slot claiming {max 1, wait_s 1}',
        metric: 'C: 8 workers × 4 slots, each claim max 1',
        slots: workersC.flatMap((worker) => [1, 2, 3, 4].map(() => ({ worker, max: 1 }))),
        total: TOTAL,
        limitS: VARIANT_LIMIT_S,
        prepare: () => insertRequests(bench.sql, TOTAL),
      },
      {
        label: 'D: as A, but each request has its own history key (subject), so completions share no task_key row',
        metric: 'D: as A, a distinct history key per request',
        slots: workersD.map((worker) => ({ worker, max: 1 })),
        total: TOTAL,
        limitS: VARIANT_LIMIT_S,
        prepare: () => insertRequests(bench.sql, TOTAL, { distinctSubjects: true }),
      },
      {
        label: 'E: as A, batched protocol: each claim {max 1} carries the result of the previous one',
        metric: 'E: as A, results carried by the next claim',
        slots: workersE.map((worker) => ({ worker, max: 1, carry: true })),
        total: TOTAL,
        limitS: VARIANT_LIMIT_S,
        prepare: () => insertRequests(bench.sql, TOTAL),
      },
      {
        label: 'F: as B, batched protocol: each claim {max 4} carries the results of the previous 4',
        metric: 'F: as B, results carried by the next claim',
        slots: workersF.map((worker) => ({ worker, max: 4, carry: true })),
        total: TOTAL,
        limitS: VARIANT_LIMIT_S,
        prepare: () => insertRequests(bench.sql, TOTAL),
      },
      {
        // The configuration pg-boss runs in (1 worker × batch 32): the figure compared with the peers.
        label: `G: 1 worker × 32 slots, batched protocol: each claim {max 32} carries the previous claim's results, ${COMPARED_N.toLocaleString('en-US')} requests`,
        metric: `G: 1 worker × 32, batched protocol (${COMPARED_N.toLocaleString('en-US')})`,
        slots: workersG.map((worker) => ({ worker, max: 32, carry: true })),
        total: COMPARED_N,
        limitS: VARIANT_A_LIMIT_S,
        prepare: () => insertRequests(bench.sql, COMPARED_N),
        compared: true,
      },
      {
        label: 'H: 4 workers × 8 slots, batched protocol (several workers contend on the claim)',
        metric: 'H: 4 workers × 8, batched protocol',
        slots: workersH.map((worker) => ({ worker, max: 8, carry: true })),
        total: TOTAL,
        limitS: VARIANT_LIMIT_S,
        prepare: () => insertRequests(bench.sql, TOTAL),
      },
    ];
    for (const variant of variants) {
      if (variant.prepare) {
        progress(`inserting ${variant.total.toLocaleString('en-US')} pending requests with SQL`);
        await variant.prepare();
      }
      progress(`${variant.label} (at most ${variant.limitS} s)`);
      await statements?.reset();
      const result = await drain(bench, variant.slots, variant.total, variant.limitS * 1000);
      for (const line of result.lines) progress(`  ${line}`);
      const top = (await statements?.top(result.completed)) ?? [];
      for (const line of top) progress(`  ${line}`);
      report.rows.push({
        scenario: SCENARIO,
        metric: variant.metric,
        value: `${rate(result.perSecond)}${result.completed < variant.total ? ` (${result.completed.toLocaleString('en-US')} done in ${variant.limitS} s)` : ''}`,
        target: variant.target ? `≥ ${TARGET_PER_S}/s` : undefined,
        met: variant.target ? result.perSecond >= TARGET_PER_S : undefined,
      });
      const pickMs = (await statements?.meanOf('prepare worksched_claim')) ?? Number.NaN;
      const upsertMs = (await statements?.meanOf('insert into task_key')) ?? Number.NaN;
      report.rows.push({ scenario: SCENARIO, metric: '  mean server time: claim statement / task_key upsert', value: `${ms(pickMs)} / ${ms(upsertMs)}` });
      const rows = await bench.sql.query<{ n: string }>(`select count(*) as n from work_request`);
      // A worker that never claims (nothing running): the plan the next claim would get.
      const plan = await explainPick(bench, probe);
      const tableRows = Number(rows.rows[0].n).toLocaleString('en-US');
      progress(`  picking query now (${tableRows} rows in work_request): ${plan.summary}`);
      if (variant.compared) {
        report.figures!.drainPerS = result.perSecond;
        report.notes.push(`variant G (compared with the peers), server time per claimed+completed request:`, ...top.map((line) => `  ${line}`), ...result.lines.map((line) => `  ${line}`));
      }
      if (variant.target) {
        report.notes.push(`variant A, server time per claimed+completed request:`, ...top.map((line) => `  ${line}`));
        report.notes.push(`  picking query after variant A (${tableRows} rows in work_request): ${plan.summary}`);
      }
      // What a stopped variant left behind must not feed the next one.
      await bench.sql.query(`update work_request set status = 'aborted', state_reason = 'bench: variant stopped' where status in ('pending', 'running')`);
    }

    const history = await bench.sql.query<{ n: string }>(`select count(*) as n from task_history`);
    const fullHistory = await serialCreates(bench, SERIAL_CREATES);
    const historyRows = Number(history.rows[0].n).toLocaleString('en-US');
    progress(`${SERIAL_CREATES} creates one at a time, ${historyRows} task_history rows: ${describeLatency(fullHistory)}`);
    report.rows.push({
      scenario: SCENARIO,
      metric: `create call p50, empty history → ${historyRows} history rows`,
      value: `${ms(emptyHistory.p50)} → ${ms(fullHistory.p50)}`,
    });
    return report;
  } finally {
    await cleanup.runAll();
  }
}

/**
 * `count` creates (fewer if `limitMs` passes first), each awaited before the next: the call's latency, and the
 * seconds they took in all.
 */
async function serialCreates(bench: BenchServer, count: number, limitMs = Infinity) {
  const times: number[] = [];
  const first = performance.now();
  for (let i = 0; i < count && performance.now() - first < limitMs; i += 1) {
    const start = performance.now();
    await bench.http.post<WorkRequest>('/api/v1/work-requests', bench.server.adminToken, NOOP_SPEC);
    times.push(performance.now() - start);
  }
  return { ...summarize(times), seconds: (performance.now() - first) / 1000 };
}

/**
 * `total` requests through POST /api/v1/work-requests/batch (issue 9), COMPARED_BATCH a call, one call after
 * another. A server without the route (404) gives no rate, and says so.
 */
async function batchCreates(bench: BenchServer, total: number): Promise<{ perS?: number; line: string }> {
  const meter = new CpuMeter();
  const start = performance.now();
  for (let from = 0; from < total; from += COMPARED_BATCH) {
    const specs = Array.from({ length: Math.min(COMPARED_BATCH, total - from) }, () => NOOP_SPEC);
    try {
      await bench.http.post('/api/v1/work-requests/batch', bench.server.adminToken, { work_requests: specs });
    } catch (error) {
      if (error instanceof BenchHttpError && from === 0) return { line: `not measured: POST /api/v1/work-requests/batch answered ${error.status}` };
      throw error;
    }
  }
  const seconds = (performance.now() - start) / 1000;
  return { perS: total / seconds, line: `${total.toLocaleString('en-US')} in batches of ${COMPARED_BATCH.toLocaleString('en-US')} in ${seconds.toFixed(2)} s = ${rate(total / seconds)}; ${meter.describe(total)}` };
}

async function createOverHttp(bench: BenchServer, total: number, concurrency: number, limitMs: number) {
  const meter = new CpuMeter();
  const activity = new ActivitySampler(bench.sql).start();
  const start = performance.now();
  let next = 0;
  let count = 0;
  const lane = async () => {
    while (next < total && performance.now() - start < limitMs) {
      next += 1;
      await bench.http.post<WorkRequest>('/api/v1/work-requests', bench.server.adminToken, NOOP_SPEC);
      count += 1;
    }
  };
  try {
    await withTimeLimit('HTTP create', limitMs + 60_000, () => Promise.all(Array.from({ length: concurrency }, lane)));
  } finally {
    activity.stop();
  }
  return { count, seconds: (performance.now() - start) / 1000, cpu: meter.describe(count), activity: activity.stop() };
}

interface Slot {
  worker: BenchWorker;
  max: number;
  /** Batched protocol: no complete calls; the next claim carries the results (issue 9). */
  carry?: boolean;
}

/**
 * Every slot loops claim → complete until `total` requests are completed or `limitMs` passes; the clock stops at
 * the last completion (or at the limit).
 */
async function drain(bench: BenchServer, slots: Slot[], total: number, limitMs: number) {
  let completed = 0;
  let claimCalls = 0;
  let emptyClaims = 0;
  let end = 0;
  let cpu = '';
  let connections = '';
  const meter = new CpuMeter();
  const activity = new ActivitySampler(bench.sql).start();
  const start = performance.now();
  let lastTick = { at: start, completed: 0 };
  const ticker = setInterval(() => {
    const now = performance.now();
    progress(`    ${completed.toLocaleString('en-US')} done, ${rate(((completed - lastTick.completed) * 1000) / (now - lastTick.at))} over the last ${((now - lastTick.at) / 1000).toFixed(0)} s`);
    lastTick = { at: now, completed };
  }, 10_000);
  const finish = () => {
    if (end) return;
    end = performance.now();
    cpu = meter.describe(completed);
    connections = activity.stop();
  };
  try {
    await withTimeLimit('drain', limitMs, async (signal) => {
      const carryingLoop = async (slot: Slot) => {
        let results: Array<{ id: number; result: 'success'; output_data: object }> = [];
        while (completed < total && !signal.aborted) {
          claimCalls += 1;
          // A claim that carries results does not long-poll: its answer is when they count as done.
          const body = { max: slot.max, wait_s: results.length > 0 ? 0 : 1, results };
          const answer = await bench.http.post<ClaimResponse>('/api/v1/workers/claim', slot.worker.token, body, signal);
          completed += answer.results.filter((item) => item.status === 200).length;
          if (completed >= total) finish();
          if (answer.work_requests.length === 0) emptyClaims += 1;
          results = answer.work_requests.map((item) => ({ id: item.id, result: 'success', output_data: {} }));
        }
      };
      const loop = async (slot: Slot) => {
        if (slot.carry) return carryingLoop(slot);
        while (completed < total && !signal.aborted) {
          claimCalls += 1;
          const answer = await bench.http.post<ClaimResponse>('/api/v1/workers/claim', slot.worker.token, { max: slot.max, wait_s: 1 }, signal);
          if (answer.work_requests.length === 0) {
            emptyClaims += 1;
            continue;
          }
          await Promise.all(
            answer.work_requests.map(async (item) => {
              await bench.http.post(`/api/v1/work-requests/${item.id}/complete`, slot.worker.token, { result: 'success', output_data: {} }, signal);
              completed += 1;
              if (completed === total) finish();
            }),
          );
        }
      };
      const loops = slots.map((slot) => loop(slot).catch((error: unknown) => { if (!signal.aborted) throw error; }));
      await Promise.all(loops);
    }).catch((error: unknown) => {
      if (!(error instanceof Error && error.message.startsWith('drain did not finish'))) throw error;
    });
  } finally {
    clearInterval(ticker);
    finish();
    activity.stop();
  }
  const seconds = (end - start) / 1000;
  const perSecond = completed / seconds;
  const nonEmpty = Math.max(1, claimCalls - emptyClaims);
  return {
    completed,
    perSecond,
    lines: [
      `${completed.toLocaleString('en-US')} claimed+completed in ${seconds.toFixed(2)} s = ${rate(perSecond)}${completed < total ? ` (stopped at the ${limitMs / 1000} s limit)` : ''}; ${claimCalls} claim calls (${emptyClaims} empty), ${(completed / nonEmpty).toFixed(2)} requests per non-empty claim`,
      cpu,
      `server connections (avg): ${connections}`,
    ],
  };
}
