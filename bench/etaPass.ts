/**
 * Scenario 12: the expected start/finish pass (server/scheduler/refreshEstimates.ts).
 *
 * A. Cost: 1,000 workers (four machine shapes, concurrency 2; inserted with SQL), 1,500 running requests on them,
 *    100 history keys × 20 successful runs (1 s–10 min), and 100,000 pending requests (keys round-robin,
 *    priorities 0–3, a quarter needing 48 GiB, which only the largest shape has), all inserted with SQL. The pass
 *    runs as housekeeping runs it (in a transaction holding its advisory lock), timed twice: with no stored
 *    estimates (every row written), then again at once (the steady state: only what moved is written).
 *    Target: ≤ 1 s for the full pass. BENCH_ETA_PENDING / BENCH_ETA_WORKERS change the sizes.
 * B. Accuracy on a synthetic backlog: 4 simulated workers (HTTP, concurrency 2), 3 keys whose runs take
 *    100 / 200 / 400 ms ± 25 %; 60 runs through those workers first (the history the server learns from, claim
 *    and report overhead included), then 160 requests of mixed keys and priorities submitted at once; the pass
 *    runs once, then the workers drain the backlog (each "task" sleeps its drawn duration). Printed: the mean absolute error of predicted vs actual start as
 *    a fraction of the mean wait (wait = actual start − the time of the prediction).
 */
import type { ClaimResponse } from '../protocol/workerApi';
import type { WorkRequest } from '../protocol/workRequest';
import { sleep } from '../common/sleep';
import { ADVISORY_LOCKS, runWithAdvisoryLock } from '../server/housekeeping/advisoryLock';
import { refreshEstimates, type EstimatesReport } from '../server/scheduler/refreshEstimates';
import { joinStoredEstimate } from '../server/sql/estimateChunks';
import { Cleanup, progress, registerWorkers, startBenchServer, type BenchPostgres, type BenchServer } from './lib/harness';
import type { ScenarioReport } from './lib/report';

const SCENARIO = '14 ETA pass';
const PENDING = Number(process.env.BENCH_ETA_PENDING ?? 100_000);
const WORKERS = Number(process.env.BENCH_ETA_WORKERS ?? 1_000);
const RUNNING = Math.round(WORKERS * 1.5);
const KEYS = 100;
const TARGET_MS = 1_000;
/** The server's default history retention: what learned durations look at. */
const SAMPLE_RUNS = 50;
const GiB = 1024 ** 3;

export async function runEtaPass(postgres: BenchPostgres): Promise<ScenarioReport> {
  const cleanup = new Cleanup();
  try {
    const report: ScenarioReport = { rows: [], notes: [] };
    const bench = await startBenchServer(cleanup, postgres, 'eta');
    await measureCost(bench, report);
    // work_request by TRUNCATE (a DELETE checks its unindexed self-references row by row: quadratic); workers by
    // DELETE, since TRUNCATE … CASCADE through worker would empty api_token, the server's own tokens too.
    // The server's housekeeping takes the same tables' locks in its own order: a deadlock victim is rolled back
    // whole, so try again.
    for (let attempt = 1; ; attempt += 1) {
      try {
        await bench.sql.query('begin; truncate task_history, task_key, work_request_eta_chunk; truncate work_request cascade; delete from worker; commit');
        break;
      } catch (error) {
        await bench.sql.query('rollback');
        if ((error as { code?: string }).code !== '40P01' || attempt === 5) throw error;
        progress(`  emptying the tables deadlocked with housekeeping (attempt ${attempt}); trying again`);
      }
    }
    await measureAccuracy(bench, report);
    return report;
  } finally {
    await cleanup.runAll();
  }
}

async function runPass(bench: BenchServer): Promise<{ report: EstimatesReport; ms: number }> {
  for (;;) {
    const started = performance.now();
    // The server's own housekeeping may hold the lock for a moment: try again, as its next tick would.
    const report = await runWithAdvisoryLock(bench.server.orm.em.fork(), ADVISORY_LOCKS.estimates, (em) =>
      refreshEstimates(em, { sampleRuns: SAMPLE_RUNS }),
    );
    if (report) return { report, ms: performance.now() - started };
    await sleep(20);
  }
}

async function measureCost(bench: BenchServer, report: ScenarioReport): Promise<void> {
  progress(`cost: ${WORKERS.toLocaleString('en-US')} workers, ${RUNNING.toLocaleString('en-US')} running, ${KEYS} keys × 20 runs, ${PENDING.toLocaleString('en-US')} pending (SQL)`);
  await bench.sql.query(
    `insert into worker (name, enabled, online, resources, cpu_count, total_memory, available_memory, available_disk_space, gpu_count, tags, concurrency, registered_at, last_seen_at)
     select 'eta-' || g, true, true, '{"cpu_count":4,"total_memory":0,"available_memory":0,"available_disk_space":0,"gpus":[]}'::jsonb,
       4 * (1 + g % 4), (8 * (1 + g % 4) * (1 + (g % 4) / 3 * 5))::bigint * ${GiB}, 4::bigint * ${GiB}, 100::bigint * ${GiB}, 0, '{}', 2, now(), now()
     from generate_series(1, $1::int) g`,
    [WORKERS],
  );
  await bench.sql.query(
    `insert into task_history (task_name, subject, context, work_request_id, attempt, result, duration_ms, started_at, completed_at)
     select 'bench.eta', 'key-' || k, '', null, 1, 'success', d.ms, now() - interval '1 day' + r * interval '1 minute', now() - interval '1 day' + r * interval '1 minute' + d.ms * interval '1 millisecond'
     from generate_series(1, ${KEYS}) k, generate_series(1, 20) r, lateral (select (1000 + (k * 6007) % 599000)::bigint as ms) d`,
  );
  const taskData = JSON.stringify({ execution: { executable: '/bin/true', args: [], parameters: {}, parameter_mapping: {}, env: {} }, use_history: true });
  await bench.sql.query(
    `insert into work_request (task_name, subject, context, status, priority, priority_adjustment, task_data, requirements, learned_requirements,
       need_memory, need_tags, attempt, max_attempts, interrupt_allowed, user_metadata, created_at, started_at, worker_id)
     select 'bench.eta', 'key-' || (g % ${KEYS}), null, 'running', 0, 0, $1::json, '{}'::jsonb, '[]'::jsonb, null, '{}', 1, 3, true, '{}'::jsonb,
       now() - interval '1 hour', now() - (g % 300) * interval '1 second', (select id from worker order by id offset (g % $2::int) limit 1)
     from generate_series(1, $3::int) g`,
    [taskData, WORKERS, RUNNING],
  );
  await bench.sql.query(
    `insert into work_request (task_name, subject, context, status, priority, priority_adjustment, task_data, requirements, learned_requirements,
       need_memory, need_tags, attempt, max_attempts, interrupt_allowed, user_metadata, created_at)
     select 'bench.eta', 'key-' || (g % ${KEYS}), null, 'pending', g % 4, 0, $1::json, '{}'::jsonb, '[]'::jsonb,
       case when g % 4 = 0 then 48::bigint * ${GiB} end, '{}', 1, 3, true, '{}'::jsonb, now() - interval '1 hour' + g * interval '1 millisecond'
     from generate_series(1, $2::int) g`,
    [taskData, PENDING],
  );
  await bench.sql.query('analyze');

  await bench.sql.query('truncate work_request_eta_chunk');
  const full = await runPass(bench);
  const steady = await runPass(bench);
  const line = (label: string, pass: { report: EstimatesReport; ms: number }) =>
    `${label}: ${pass.ms.toFixed(0)} ms (read ${pass.report.readMs.toFixed(0)} ms, estimate ${pass.report.computeMs.toFixed(0)} ms, write ${pass.report.writeMs.toFixed(0)} ms); ` +
    `${pass.report.pending.toLocaleString('en-US')} pending, ${pass.report.running.toLocaleString('en-US')} running, ${pass.report.workers.toLocaleString('en-US')} workers, ${pass.report.written.toLocaleString('en-US')} estimates written`;
  progress(`  ${line('first pass (every estimate written)', full)}`);
  progress(`  ${line('next pass (steady state)', steady)}`);
  report.notes.push(`ETA pass, ${line('first pass (every estimate written)', full)}`, `ETA pass, ${line('next pass (steady state)', steady)}`);
  const size = `${(PENDING / 1000).toFixed(0)}k pending, ${WORKERS.toLocaleString('en-US')} workers`;
  report.rows.push({ scenario: SCENARIO, metric: `pass, ${size}, all written`, value: `${full.ms.toFixed(0)} ms`, target: `≤ ${TARGET_MS} ms`, met: full.ms <= TARGET_MS });
  report.rows.push({ scenario: SCENARIO, metric: `pass, ${size}, steady state`, value: `${steady.ms.toFixed(0)} ms`, target: `≤ ${TARGET_MS} ms`, met: steady.ms <= TARGET_MS });
}

const ACCURACY_KEYS = [
  { subject: 'short', meanMs: 100 },
  { subject: 'medium', meanMs: 200 },
  { subject: 'long', meanMs: 400 },
];
const ACCURACY_REQUESTS = 160;

async function measureAccuracy(bench: BenchServer, report: ScenarioReport): Promise<void> {
  const random = seeded(20261202);
  const draw = (meanMs: number) => Math.round(meanMs * (0.75 + 0.5 * random()));
  const meanOf = new Map(ACCURACY_KEYS.map((key) => [key.subject, key.meanMs]));
  progress(`accuracy: 4 simulated workers × 2 slots, ${ACCURACY_REQUESTS} requests of 3 keys (100 / 200 / 400 ms ± 25 %)`);
  const workers = await registerWorkers(bench, 'eta-accuracy', 4, 2);
  const spec = (index: number, priority: number) => ({ task_name: 'bench.eta.accuracy', subject: ACCURACY_KEYS[index % 3].subject, priority, execution: { executable: '/bin/true' } });
  /** Every slot claims, "runs" the task (sleeps its drawn duration) and completes, until `count` are done. */
  const drain = async (count: number) => {
    let remaining = count;
    const slot = async (token: string) => {
      while (remaining > 0) {
        const answer = await bench.http.post<ClaimResponse>('/api/v1/workers/claim', token, { max: 1, wait_s: 1 });
        for (const item of answer.work_requests) {
          const ms = draw(meanOf.get(item.subject ?? '') ?? 100);
          await sleep(ms);
          await bench.http.post(`/api/v1/work-requests/${item.id}/complete`, token, { result: 'success', output_data: { runtime_statistics: { duration_ms: ms } } });
          remaining -= 1;
        }
      }
    };
    await Promise.all(workers.flatMap((worker) => [slot(worker.token), slot(worker.token)]));
  };
  // History as the server learns it: runs through these same workers (claim and report overhead included).
  const warmUp = Array.from({ length: 60 }, (_, index) => spec(index, 0));
  await bench.http.post('/api/v1/work-requests/batch', bench.server.adminToken, { work_requests: warmUp });
  await drain(warmUp.length);

  const specs = Array.from({ length: ACCURACY_REQUESTS }, (_, index) => spec(index, Math.floor(random() * 3)));
  const created = await bench.http.post<{ work_requests: WorkRequest[] }>('/api/v1/work-requests/batch', bench.server.adminToken, { work_requests: specs });
  const backlog = new Set(created.work_requests.map((request) => request.id));
  const predictedAt = Date.now();
  await runPass(bench);
  const predictions = await bench.sql.query<{ id: string; expected_start_at: Date }>(`select r.id, e.expected_start_at from work_request r ${joinStoredEstimate('r.id', 'e', 'inner')} where e.expected_start_at is not null`);
  const predicted = new Map(predictions.rows.filter((row) => backlog.has(Number(row.id))).map((row) => [Number(row.id), new Date(row.expected_start_at).getTime()]));
  await drain(created.work_requests.length);

  const started = await bench.sql.query<{ id: string; started_at: Date }>(`select id, started_at from work_request where task_name = 'bench.eta.accuracy' and status = 'completed'`);
  let absoluteError = 0;
  let wait = 0;
  let counted = 0;
  for (const row of started.rows) {
    const expected = predicted.get(Number(row.id));
    if (expected === undefined) continue;
    const actual = new Date(row.started_at).getTime();
    absoluteError += Math.abs(expected - actual);
    wait += actual - predictedAt;
    counted += 1;
  }
  const fraction = wait > 0 ? absoluteError / wait : Number.NaN;
  const line = `${counted} predicted starts: mean absolute error ${(absoluteError / Math.max(1, counted)).toFixed(0)} ms, mean wait ${(wait / Math.max(1, counted)).toFixed(0)} ms: ${(fraction * 100).toFixed(1)} % of the wait`;
  progress(`  ${line}`);
  report.notes.push(`ETA accuracy on a synthetic backlog (4 workers × 2 slots, 3 keys 100/200/400 ms ± 25 %, ${ACCURACY_REQUESTS} requests, history from 60 earlier runs on the same workers): ${line}`);
  report.rows.push({ scenario: SCENARIO, metric: 'expected start error / wait (synthetic backlog)', value: `${(fraction * 100).toFixed(1)} %`, target: '≤ 20 %', met: fraction <= 0.2 });
}

/** Deterministic pseudo-random numbers (mulberry32): the same backlog every run. */
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
