/**
 * pg-boss 12.35 on its own database of the bench's PostgreSQL, in this process, with a no-op handler.
 * - batch enqueue: `insert(queue, jobs)` in batches of 1,000; one at a time: `send(queue, data)` awaited in turn,
 *   with no work() on any queue, measured after the rest beside worksched and graphile-worker (scenario 8);
 * - drain: `work(queue, {localConcurrency: 1, batchSize: 32, burstWhenBatchFull: true}, handler)`: one worker that
 *   fetches up to 32 jobs, runs the batch handler, completes the batch in one statement, and fetches again at once
 *   while batches come back full;
 * - latency: a second queue created with `notify: true` on an instance with `useListenNotify: true` (a create
 *   wakes the worker at once), the same work options plus polling at the minimum (`pollingIntervalSeconds` and
 *   `notifyPollingIntervalSeconds` 0.5) as the backstop: pg-boss at its lowest latency.
 * The enqueue and drain queue is a default queue (no notify): pg-boss's fastest way to create jobs.
 */
import { PgBoss } from 'pg-boss';
import type { Client } from 'pg';
import { Cleanup, progress, type BenchPostgres } from '../lib/harness';
import { COMPARED_CONCURRENCY } from '../lib/compared';
import { JobStarts, measureBatchEnqueue, measureDrain, measureLatency, type PeerResult } from './peerMeasure';

const NAME = 'pg-boss 12.35.0';
const DRAIN_QUEUE = 'bench-noop';
const LATENCY_QUEUE = 'bench-noop-notify';

interface Payload {
  i: number;
}

export async function benchPgBoss(postgres: BenchPostgres, cleanup: Cleanup, sql: (url: string) => Promise<Client>, total: number, limitMs: number): Promise<PeerResult> {
  const url = await postgres.createDatabase(cleanup, 'pgboss');
  const boss = new PgBoss({ connectionString: url, useListenNotify: true, application_name: 'bench-pgboss' });
  const errors: unknown[] = [];
  boss.on('error', (error) => errors.push(error));
  await boss.start();
  cleanup.add('stop pg-boss', () => boss.stop({ graceful: false, close: true }));
  await boss.createQueue(DRAIN_QUEUE);
  await boss.createQueue(LATENCY_QUEUE, { notify: true });
  const side = await sql(url);
  const lines: string[] = [];
  const figures: PeerResult['figures'] = {};
  const starts = new JobStarts();
  // pg-boss wants a promise back from a handler; this one has nothing to wait for.
  const handler = (jobs: Array<{ data: Payload }>) => {
    for (const job of jobs) starts.started(job.data.i);
    return Promise.resolve();
  };
  const workOptions = { localConcurrency: 1, batchSize: COMPARED_CONCURRENCY, burstWhenBatchFull: true } as const;

  const batch = await measureBatchEnqueue(`${NAME} insert()`, total, async (from, count) => {
    await boss.insert(DRAIN_QUEUE, Array.from({ length: count }, (_, k) => ({ data: { i: from + k } })));
  });
  figures.batchCreatePerS = batch.perS;
  lines.push(batch.line);

  const drain = await measureDrain(
    `${NAME} work()`,
    total,
    starts,
    async () => void (await boss.work<Payload>(DRAIN_QUEUE, workOptions, handler)),
    async () => Number((await side.query<{ n: string }>(`select count(*) as n from pgboss.job where name = $1 and state < 'completed'`, [DRAIN_QUEUE])).rows[0].n),
    limitMs,
  );
  figures.drainPerS = drain.perS;
  lines.push(drain.line);
  await boss.offWork(DRAIN_QUEUE, { wait: true });

  await boss.work<Payload>(LATENCY_QUEUE, { ...workOptions, pollingIntervalSeconds: 0.5, notifyPollingIntervalSeconds: 0.5 }, handler);
  const latency = await measureLatency(`${NAME} send() → handler, notify`, starts, async (i) => {
    await boss.send(LATENCY_QUEUE, { i });
  });
  figures.latencyP50Ms = latency.summary.p50;
  lines.push(latency.line);
  await boss.offWork(LATENCY_QUEUE, { wait: true });

  if (errors.length > 0) {
    const first = errors[0];
    progress(`${NAME}: ${errors.length} error event(s), the first: ${first instanceof Error ? first.message : String(first)}`);
    lines.push(`${NAME}: ${errors.length} error event(s)`);
  }
  return {
    name: NAME,
    figures,
    config:
      `${NAME}: drain work() {localConcurrency 1, batchSize ${COMPARED_CONCURRENCY}, burstWhenBatchFull}, default pool (max 10); enqueue with insert() / send() on a default queue; ` +
      `latency on a queue with notify: true, useListenNotify: true, polling 0.5 s (the minimum) as the backstop`,
    lines,
    // Once work() has been taken off both queues: the sends only create.
    sequential: { name: `${NAME} send()`, enqueueOne: async (i) => void (await boss.send(DRAIN_QUEUE, { i })) },
  };
}
