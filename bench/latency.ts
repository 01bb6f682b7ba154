/**
 * Scenario 2: enqueue → claim latency with idle long-polling workers. 8 workers (concurrency 1) long-poll
 * claim {max 1, wait_s 30}; requests are created one at a time over HTTP with a random 5–20 ms gap. Latency is
 * from just before the create call to the moment a worker's claim answer carrying that id arrives.
 * Then the same with 32 workers, the concurrency of the comparison with pg-boss and graphile-worker (its p50 is
 * worksched's figure there; the peers are measured the same way in bench/peers/peerMeasure.ts).
 */
import type { ClaimResponse } from '../protocol/workerApi';
import type { WorkRequest } from '../protocol/workRequest';
import { sleep } from '../common/sleep';
import {
  Cleanup,
  calibrate,
  NOOP_SPEC,
  QueryCounter,
  StatementStats,
  progress,
  registerWorkers,
  startBenchServer,
  withTimeLimit,
  type BenchPostgres,
  type BenchServer,
  type BenchWorker,
} from './lib/harness';
import type { ScenarioReport } from './lib/report';
import { CpuMeter, describeLatency, ms, summarize } from './lib/stats';

const WORKERS = 8;
const COMPARED_WORKERS = 32;
const WARMUP = 30;
const MEASURED = 500;
const TARGET_P50_MS = 10;
const SCENARIO = '2 enqueue→claim';

export async function runLatency(postgres: BenchPostgres): Promise<ScenarioReport> {
  const cleanup = new Cleanup();
  try {
    const bench = await startBenchServer(cleanup, postgres, 'latency');
    const workers = await registerWorkers(bench, 'lp', WORKERS, 1);
    const comparedWorkers = await registerWorkers(bench, 'lp32', COMPARED_WORKERS, 1);
    const report: ScenarioReport = { rows: [], notes: [], figures: {} };
    const statements = await StatementStats.open(bench.sql);
    const floor = await calibrate(bench);
    progress(floor.line);
    report.rows.push({ scenario: SCENARIO, metric: 'floor p50: select 1 / GET /healthz', value: `${ms(floor.sqlP50)} / ${ms(floor.healthP50)}` });
    await measureLatency(bench, workers, statements, report, true);
    await measureLatency(bench, comparedWorkers, statements, report, false);
    return report;
  } finally {
    await cleanup.runAll();
  }
}

/**
 * `workers` long-poll while requests are created one at a time. `primary`: the scenario's own rows (and target);
 * otherwise rows labelled with the number of workers, and the p50 as the compared figure.
 */
async function measureLatency(
  bench: BenchServer,
  workers: BenchWorker[],
  statements: StatementStats | undefined,
  report: ScenarioReport,
  primary: boolean,
): Promise<void> {
  const count = workers.length;
  const label = primary ? '' : ` (${count} workers)`;

  const claimedAt = new Map<number, number>();
  let claimCalls = 0;
  let emptyClaims = 0;
  let completing = 0;
  let waiter: { ids: number[]; resolve: () => void } | null = null;
  const claimedAll = (ids: number[]) => ids.every((id) => claimedAt.has(id));

  const result = await withTimeLimit('latency scenario', 120_000, async (signal) => {
    const loops = workers.map(async (worker) => {
      while (!signal.aborted) {
        let answer: ClaimResponse;
        try {
          claimCalls += 1;
          answer = await bench.http.post<ClaimResponse>('/api/v1/workers/claim', worker.token, { max: 1, wait_s: 30 }, signal);
        } catch (error) {
          if (signal.aborted) return;
          throw error;
        }
        const now = performance.now();
        if (answer.work_requests.length === 0) emptyClaims += 1;
        for (const item of answer.work_requests) claimedAt.set(item.id, now);
        if (waiter && claimedAll(waiter.ids)) waiter.resolve();
        for (const item of answer.work_requests) {
          completing += 1;
          try {
            await bench.http.post(`/api/v1/work-requests/${item.id}/complete`, worker.token, { result: 'success', output_data: {} }, signal);
          } finally {
            completing -= 1;
          }
        }
      }
    });
    const loopsDone = Promise.all(loops);
    loopsDone.catch(() => undefined);
    // By id: a request left over from an earlier measurement on this server must not count.
    const allClaimed = (ids: number[]) =>
      new Promise<void>((resolve, reject) => {
        if (claimedAll(ids)) return resolve();
        waiter = { ids, resolve };
        loopsDone.then(() => reject(new Error('worker loops ended early')), reject);
      });

    await sleep(500); // let every worker park in its long-poll
    progress(`${count} workers long-polling (wait_s 30); warm-up: ${WARMUP} requests`);
    const warmup = await createSpaced(bench, WARMUP, signal);
    await allClaimed(warmup.map((item) => item.id));
    await sleep(200);

    progress(`creating ${MEASURED} requests one at a time, 5–20 ms apart`);
    await statements?.reset();
    const counter = new QueryCounter(bench.server.orm);
    counter.phase = 'measured';
    const claimCallsBefore = claimCalls;
    const emptyBefore = emptyClaims;
    const meter = new CpuMeter();
    const sent = await createSpaced(bench, MEASURED, signal);
    await allClaimed(sent.map((item) => item.id));
    const cpu = meter.describe(MEASURED);
    counter.stop();
    // The last completions finish before the loops are stopped: none is left running for a later measurement.
    for (let waited = 0; completing > 0 && waited < 10_000; waited += 10) await sleep(10);
    return {
      sent,
      cpu,
      claimCalls: claimCalls - claimCallsBefore,
      emptyClaims: emptyClaims - emptyBefore,
      queries: counter.breakdown('measured', MEASURED),
      claimAttempts: counter.countOf('measured', 'update worker set last_seen_at') / MEASURED,
    };
  });

  const latencies = result.sent.map((item) => claimedAt.get(item.id)! - item.before);
  const createCalls = result.sent.map((item) => item.after - item.before);
  const afterCreate = result.sent.map((item) => claimedAt.get(item.id)! - item.after);
  const latency = summarize(latencies);
  progress(`  enqueue→claim: ${describeLatency(latency)}`);
  progress(`  the create call alone: ${describeLatency(summarize(createCalls))}`);
  progress(`  create answer → claim answer: ${describeLatency(summarize(afterCreate))}`);
  progress(
    `  ${result.claimCalls} claim calls for ${MEASURED} requests (${result.emptyClaims} came back empty: woken, found nothing); ` +
      `${result.cpu}`,
  );
  progress(`  SQL from the server per request (create + claim attempts + complete): ${result.queries}`);
  const top = (await statements?.top(MEASURED)) ?? [];
  for (const line of top) progress(`  ${line}`);
  report.notes.push(`enqueue→claim${label}, server time per request (create + every woken claim attempt + complete):`, ...top.map((line) => `  ${line}`));
  report.rows.push(
    primary
      ? { scenario: SCENARIO, metric: 'latency p50', value: ms(latency.p50), target: `≤ ${TARGET_P50_MS} ms`, met: latency.p50 <= TARGET_P50_MS }
      : { scenario: SCENARIO, metric: `latency p50${label}`, value: ms(latency.p50) },
    { scenario: SCENARIO, metric: `latency p95 / p99 / max${label}`, value: `${ms(latency.p95)} / ${ms(latency.p99)} / ${ms(latency.max)}` },
    { scenario: SCENARIO, metric: `create call alone p50${label}`, value: ms(summarize(createCalls).p50) },
    { scenario: SCENARIO, metric: `claim transactions run per request${label}`, value: `${result.claimAttempts.toFixed(2)} (${count} workers woken per NOTIFY)` },
  );
  if (!primary) report.figures!.latencyP50Ms = latency.p50;
}

async function createSpaced(
  bench: Awaited<ReturnType<typeof startBenchServer>>,
  count: number,
  signal: AbortSignal,
): Promise<Array<{ id: number; before: number; after: number }>> {
  const sent: Array<{ id: number; before: number; after: number }> = [];
  for (let i = 0; i < count; i += 1) {
    await sleep(5 + Math.random() * 15);
    const before = performance.now();
    const row = await bench.http.post<WorkRequest>('/api/v1/work-requests', bench.server.adminToken, NOOP_SPEC, signal);
    sent.push({ id: row.id, before, after: performance.now() });
  }
  return sent;
}
