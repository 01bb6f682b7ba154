/**
 * graphile-worker 0.18 on its own database of the bench's PostgreSQL, in this process, with a no-op task.
 * - batch enqueue: `workerUtils.addJobs(specs)` in batches of 1,000; one at a time: `workerUtils.addJob` in turn;
 * - drain and latency: `run({concurrency: 32, taskList})` with the performance page's preset
 *   (https://worker.graphile.org/docs/performance): `localQueue: {size: 500}`, `completeJobBatchDelay: 0`,
 *   `failJobBatchDelay: 0`, and a pool one larger than the concurrency (the page: 24 jobs, pool 25). A new job
 *   wakes the runner through its LISTEN/NOTIFY, always on.
 * The one-at-a-time jobs are added with no runner (and a task name no runner knows), after the rest, beside
 * worksched's and pg-boss's (scenario 8).
 */
import { Logger, makeWorkerUtils, run, type Runner, type WorkerUtils } from 'graphile-worker';
import type { Client } from 'pg';
import { Cleanup, progress, type BenchPostgres } from '../lib/harness';
import { COMPARED_CONCURRENCY } from '../lib/compared';
import { JobStarts, measureBatchEnqueue, measureDrain, measureLatency, type PeerResult } from './peerMeasure';

const NAME = 'graphile-worker 0.18.0';
const TASK = 'bench_noop';
const UNRUN_TASK = 'bench_sequential';

/** Warnings and errors only, as progress lines. */
const logger = new Logger(() => (level, message) => {
  if (level === 'error' || level === 'warning') progress(`  graphile-worker ${level}: ${message}`);
});

export async function benchGraphileWorker(postgres: BenchPostgres, cleanup: Cleanup, sql: (url: string) => Promise<Client>, total: number, limitMs: number): Promise<PeerResult> {
  const url = await postgres.createDatabase(cleanup, 'graphile');
  const utils: WorkerUtils = await makeWorkerUtils({ connectionString: url, logger });
  cleanup.add('release graphile-worker utils', () => utils.release());
  await utils.migrate();
  const side = await sql(url);
  const lines: string[] = [];
  const figures: PeerResult['figures'] = {};
  const starts = new JobStarts();
  let runner: Runner | undefined;
  const stopRunner = async () => {
    const running = runner;
    runner = undefined;
    await running?.stop();
  };
  cleanup.add('stop the graphile-worker runner', stopRunner);
  const startRunner = async () => {
    runner = await run({
      connectionString: url,
      concurrency: COMPARED_CONCURRENCY,
      noHandleSignals: true,
      logger,
      taskList: { [TASK]: (payload) => starts.started((payload as { i: number }).i) },
      preset: {
        worker: { maxPoolSize: COMPARED_CONCURRENCY + 1, localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 },
      },
    });
  };

  const batch = await measureBatchEnqueue(`${NAME} addJobs()`, total, async (from, count) => {
    await utils.addJobs(Array.from({ length: count }, (_, k) => ({ identifier: TASK, payload: { i: from + k } })));
  });
  figures.batchCreatePerS = batch.perS;
  lines.push(batch.line);

  const drain = await measureDrain(
    `${NAME} run()`,
    total,
    starts,
    startRunner,
    async () => Number((await side.query<{ n: string }>(`select count(*) as n from graphile_worker._private_jobs`)).rows[0].n),
    limitMs,
  );
  figures.drainPerS = drain.perS;
  lines.push(drain.line);
  // A fresh runner for the latency, as pg-boss gets a fresh work().
  await stopRunner();
  await startRunner();
  const latency = await measureLatency(`${NAME} addJob() → task, LISTEN/NOTIFY`, starts, async (i) => {
    await utils.addJob(TASK, { i });
  });
  figures.latencyP50Ms = latency.summary.p50;
  lines.push(latency.line);
  await stopRunner();

  return {
    name: NAME,
    figures,
    config:
      `${NAME}: run() {concurrency ${COMPARED_CONCURRENCY}}, preset localQueue.size 500, completeJobBatchDelay 0, failJobBatchDelay 0, maxPoolSize ${COMPARED_CONCURRENCY + 1}; ` +
      `enqueue with addJobs() / addJob(); latency through its LISTEN/NOTIFY (always on)`,
    lines,
    // Once the runner has stopped (an add's NOTIFY would make it look for work); a task name no runner knows.
    sequential: { name: `${NAME} addJob()`, enqueueOne: async (i) => void (await utils.addJob(UNRUN_TASK, { i })) },
  };
}
