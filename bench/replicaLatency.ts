/**
 * Scenario 11: enqueue → claim latency while 3 server replicas share the database, against 1. 12 simulated
 * workers (concurrency 1) long-poll claim {max 1, wait_s 30}, spread round-robin over the replicas; requests are
 * created one at a time, 5–20 ms apart, on the replicas in turn, so most wake-ups cross replicas through
 * LISTEN/NOTIFY. The replicas are real servers in this process (one event loop, as the other scenarios).
 */
import { randomBytes } from 'node:crypto';
import type { ClaimResponse } from '../protocol/workerApi';
import type { WorkRequest } from '../protocol/workRequest';
import type { RegisterWorkerResponse } from '../protocol/workerApi';
import { sleep } from '../common/sleep';
import { compileServerConfig } from '../server/config';
import { startServer } from '../server/startServer';
import { BenchHttp } from './lib/http';
import { BENCH_WORKER_RESOURCES, Cleanup, NOOP_SPEC, makeTempDir, progress, withTimeLimit, type BenchPostgres } from './lib/harness';
import type { ScenarioReport } from './lib/report';
import { describeLatency, ms, summarize } from './lib/stats';

const WORKERS = 12;
const WARMUP = 30;
const MEASURED = Number(process.env.WORKSCHED_BENCH_REPLICA_REQUESTS ?? 400);
const SCENARIO = '13 replicas';

export async function runReplicaLatency(postgres: BenchPostgres): Promise<ScenarioReport> {
  const report: ScenarioReport = { rows: [], notes: [] };
  for (const replicas of [1, 3]) {
    const cleanup = new Cleanup();
    try {
      const latency = await measure(cleanup, postgres, replicas);
      progress(`  ${replicas} replica(s): enqueue→claim ${describeLatency(latency)}`);
      report.rows.push(
        { scenario: SCENARIO, metric: `enqueue→claim p50 (${replicas} replica${replicas > 1 ? 's' : ''})`, value: ms(latency.p50) },
        { scenario: SCENARIO, metric: `p95 / p99 (${replicas} replica${replicas > 1 ? 's' : ''})`, value: `${ms(latency.p95)} / ${ms(latency.p99)}` },
      );
    } finally {
      await cleanup.runAll();
    }
  }
  return report;
}

async function measure(cleanup: Cleanup, postgres: BenchPostgres, replicaCount: number): Promise<ReturnType<typeof summarize>> {
  const databaseUrl = await postgres.createDatabase(cleanup, `replicas${replicaCount}`);
  const tokens = { adminToken: `wsa_${randomBytes(16).toString('hex')}`, enrollmentToken: `wse_${randomBytes(16).toString('hex')}` };
  const replicas: BenchHttp[] = [];
  for (let index = 0; index < replicaCount; index += 1) {
    const dataDir = await makeTempDir(cleanup, `worksched-bench-replica-${index}-`);
    const server = await startServer(compileServerConfig({ databaseUrl, port: 0, dataDir, logLevel: 'silent', ...tokens }), { onProgress: () => undefined });
    cleanup.add(`close replica ${index}`, () => server.close());
    const http = new BenchHttp(server.url);
    cleanup.add(`close HTTP agent ${index}`, () => http.close());
    replicas.push(http);
  }
  progress(`${replicaCount} replica(s) up on one database; ${WORKERS} workers long-polling across them`);
  const workers: Array<{ token: string; http: BenchHttp }> = [];
  for (let index = 0; index < WORKERS; index += 1) {
    const http = replicas[index % replicaCount];
    const answer = await http.post<RegisterWorkerResponse>('/api/v1/workers/register', tokens.enrollmentToken, { name: `rep-${index}`, resources: BENCH_WORKER_RESOURCES, concurrency: 1 });
    workers.push({ token: answer.token, http });
  }

  const claimedAt = new Map<number, number>();
  return withTimeLimit('replica latency scenario', 180_000, async (signal) => {
    const loops = workers.map(async (worker) => {
      while (!signal.aborted) {
        let answer: ClaimResponse;
        try {
          answer = await worker.http.post<ClaimResponse>('/api/v1/workers/claim', worker.token, { max: 1, wait_s: 30 }, signal);
        } catch (error) {
          if (signal.aborted) return;
          throw error;
        }
        const now = performance.now();
        for (const item of answer.work_requests) {
          claimedAt.set(item.id, now);
          await worker.http.post(`/api/v1/work-requests/${item.id}/complete`, worker.token, { result: 'success', output_data: {} }, signal);
        }
      }
    });
    const loopsDone = Promise.all(loops);
    loopsDone.catch(() => undefined);
    await sleep(500); // every worker parks in its long-poll
    const create = async (count: number) => {
      const sent: Array<{ id: number; before: number }> = [];
      for (let index = 0; index < count; index += 1) {
        await sleep(5 + Math.random() * 15);
        const before = performance.now();
        const row = await replicas[index % replicaCount].post<WorkRequest>('/api/v1/work-requests', tokens.adminToken, NOOP_SPEC, signal);
        sent.push({ id: row.id, before });
      }
      for (let waited = 0; !sent.every((item) => claimedAt.has(item.id)); waited += 10) {
        if (waited > 60_000) throw new Error(`${sent.filter((item) => !claimedAt.has(item.id)).length} requests not claimed within 60 s`);
        await sleep(10);
      }
      return sent;
    };
    await create(WARMUP);
    const sent = await create(MEASURED);
    return summarize(sent.map((item) => claimedAt.get(item.id)! - item.before));
  });
}
