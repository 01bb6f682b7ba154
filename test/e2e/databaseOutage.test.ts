/**
 * The database goes away under a running server: frozen (SIGSTOP of every PostgreSQL process), stopped and
 * started again (an external DATABASE_URL), or its postmaster killed (the embedded one). /healthz answers 503
 * within seconds, requests answer 503 database_unavailable (which clients retry) instead of hanging or 500, and
 * once the database is back everything works again without restarting the server: the pools, the LISTEN
 * connection and housekeeping reconnect, and the server restarts its own embedded PostgreSQL.
 * Each test runs its own PostgreSQL cluster: the shared one of the test run is never frozen or stopped.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { withClient } from '../../common/withClient';
import { compileServerConfig, type ServerConfigInput } from '../../server/config';
import { startEmbeddedPostgres, type RunningPostgres } from '../../server/embeddedPostgres';
import { readPostmasterPid } from '../../server/embeddedPostgres/postmaster';
import { isProcessAlive } from '../../server/embeddedPostgres/processes';
import { startServer, type RunningServer } from '../../server/startServer';
import { makeRunDir, processesServing } from '../helpers/embeddedPostgres';
import { expectStatus, httpRequest, taskSpec, type ApiResponse } from '../helpers/server';
import { pollUntil } from '../helpers/waitFor';
import { stopWorkerProcess } from '../helpers/workerProcess';
import { cleanup as removeStartedWorkers, shellTask, startWorker } from './support';

interface Harness {
  server: RunningServer;
  logLines: string[];
  clientToken: string;
  workerToken: string;
  call<T = unknown>(method: string, urlPath: string, token?: string, body?: unknown): Promise<ApiResponse<T>>;
}

const cleanups: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  // The workers startWorker started, and their work dirs under the temp dir.
  await removeStartedWorkers();
});

/** A PostgreSQL cluster of this test only, with a `worksched` database. */
async function ownCluster(): Promise<{ postgres: RunningPostgres; dataDir: string; databaseUrl: string }> {
  const runDir = await makeRunDir();
  cleanups.push(() => fs.rm(runDir, { recursive: true, force: true }));
  const dataDir = path.join(runDir, 'data');
  const postgres = await startEmbeddedPostgres({ dataDir });
  cleanups.push(() => postgres.stop());
  return { postgres, dataDir, databaseUrl: await postgres.createDatabase('worksched') };
}

/** startServer in this process with its log captured; a client token and a registered worker. */
async function startHarness(config: Partial<ServerConfigInput>): Promise<Harness> {
  const logLines: string[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    }),
  );
  const dataDir = config.dataDir ?? (await makeRunDir());
  if (!config.dataDir) cleanups.push(() => fs.rm(dataDir, { recursive: true, force: true }));
  const server = await startServer(
    compileServerConfig(
      { port: 0, host: '127.0.0.1', dataDir, heartbeatTimeoutS: 300, housekeepingIntervalS: 1, validateResponses: true, databaseStatementTimeoutS: 2, ...config },
      {},
    ),
    { logger },
  );
  cleanups.push(() => server.close());
  const call = <T = unknown>(method: string, urlPath: string, token?: string, body?: unknown) =>
    httpRequest<T>(server.url, method, urlPath, { token, body, signal: AbortSignal.timeout(60_000) });
  const clientToken = expectStatus(await call<{ token: string }>('POST', '/api/v1/tokens', server.adminToken, { role: 'client' }), 201).body.token;
  const registration = {
    name: `outage-${process.pid}-${Date.now()}`,
    resources: { cpu_count: 2, total_memory: 2 ** 30, available_memory: 2 ** 30, available_disk_space: 2 ** 30 },
    concurrency: 100,
  };
  const workerToken = expectStatus(await call<{ token: string }>('POST', '/api/v1/workers/register', server.enrollmentToken, registration), 201).body.token;
  return { server, logLines, clientToken, workerToken, call };
}

/** Creates a request and claims it: the whole path through the ORM, the claim pool and the notifications. */
async function createAndClaim(harness: Harness): Promise<void> {
  const created = expectStatus(await harness.call<{ id: number }>('POST', '/api/v1/work-requests', harness.clientToken, taskSpec()), 201, 'create');
  const claimed = expectStatus(await harness.call<{ work_requests: Array<{ id: number }> }>('POST', '/api/v1/workers/claim', harness.workerToken, { max: 10 }), 200, 'claim');
  expect(claimed.body.work_requests.map((item) => item.id)).toContain(created.body.id);
}

const health = (harness: Harness) => harness.call<{ status: string; database: string }>('GET', '/healthz');

function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // exited meanwhile
    }
  }
}

test('a frozen database (SIGSTOP): /healthz says 503 within seconds, requests get 503 database_unavailable, and all works after SIGCONT', async () => {
  const { dataDir, databaseUrl } = await ownCluster();
  const harness = await startHarness({ databaseUrl });
  await createAndClaim(harness);

  const frozen = await processesServing(dataDir);
  expect(frozen.length).toBeGreaterThan(1); // the postmaster and its backends
  signalAll(frozen, 'SIGSTOP');
  cleanups.push(() => Promise.resolve(signalAll(frozen, 'SIGCONT')));
  try {
    const answer = await health(harness);
    expect({ status: answer.status, body: answer.body }).toEqual({ status: 503, body: { status: 'degraded', database: 'unreachable' } });
    expect(answer.elapsedMs).toBeLessThan(10_000); // 2 s by design; generous for a loaded machine

    const create = await harness.call<{ error: { code: string } }>('POST', '/api/v1/work-requests', harness.clientToken, taskSpec());
    expect({ status: create.status, code: create.body?.error?.code }).toEqual({ status: 503, code: 'database_unavailable' });
    const claim = await harness.call<{ error: { code: string } }>('POST', '/api/v1/workers/claim', harness.workerToken, {});
    expect({ status: claim.status, code: claim.body?.error?.code }).toEqual({ status: 503, code: 'database_unavailable' });
  } finally {
    signalAll(frozen, 'SIGCONT');
  }

  await pollUntil(async () => (await health(harness)).status, { until: (status) => status === 200, description: '/healthz to say 200 after SIGCONT', timeoutMs: 30_000 });
  await createAndClaim(harness);
  expect(harness.logLines.some((line) => line.includes('"level":50') && line.includes('request failed"'))).toBe(false); // no 500 was logged
}, 90_000);

test('an external DATABASE_URL that goes down and comes back: pools, LISTEN and housekeeping reconnect by themselves, a worker waits it out', async () => {
  const cluster = await ownCluster();
  const harness = await startHarness({ databaseUrl: cluster.databaseUrl });
  await createAndClaim(harness);
  const worker = await startWorker({ url: harness.server.url, enrollmentToken: harness.server.enrollmentToken });
  cleanups.push(() => stopWorkerProcess(worker));
  const task = expectStatus(await harness.call<{ id: number }>('POST', '/api/v1/work-requests', harness.clientToken, shellTask('sleep 2; echo finished')), 201).body;
  await pollUntil(async () => (await harness.call<{ status: string }>('GET', `/api/v1/work-requests/${task.id}`, harness.clientToken)).body.status, {
    until: (status) => status === 'running',
    description: 'the task to run',
    timeoutMs: 30_000,
  });

  await cluster.postgres.stop();
  await pollUntil(async () => (await health(harness)).status, { until: (status) => status === 503, description: '/healthz to say 503 while the database is down', timeoutMs: 30_000 });
  const create = await harness.call<{ error: { code: string } }>('POST', '/api/v1/work-requests', harness.clientToken, taskSpec());
  expect({ status: create.status, code: create.body?.error?.code }).toEqual({ status: 503, code: 'database_unavailable' });
  await expect(harness.server.housekeeping.runOnce()).rejects.toThrow();
  // The task ends during the outage: its report gets a 503, which the worker keeps and retries.
  await worker.waitForLine((line) => line.includes('cannot deliver the result yet') && line.includes('the database is unavailable'), 30_000);
  expect(worker.alive).toBe(true);

  const restarted = await startEmbeddedPostgres({ dataDir: cluster.dataDir });
  cleanups.push(() => restarted.stop());
  expect(restarted.port).toBe(cluster.postgres.port);
  await pollUntil(async () => (await health(harness)).status, { until: (status) => status === 200, description: '/healthz to say 200 once the database is back', timeoutMs: 30_000 });
  await createAndClaim(harness);
  await harness.server.housekeeping.runOnce();
  const done = await pollUntil(async () => (await harness.call<{ status: string; result: string }>('GET', `/api/v1/work-requests/${task.id}`, harness.clientToken)).body, {
    until: (request) => request.status === 'completed',
    description: 'the report kept through the outage to be delivered',
    timeoutMs: 60_000,
  });
  expect(done.result).toBe('success');
  // The LISTEN connection is back too (it retries every second).
  await pollUntil(
    () =>
      withClient(cluster.databaseUrl, async (client) => {
        const rows = await client.query<{ n: string }>(`select count(*) as n from pg_stat_activity where application_name = 'worksched-listen'`);
        return Number(rows.rows[0].n);
      }),
    { until: (count) => count === 1, description: 'the LISTEN connection to be open again', timeoutMs: 20_000 },
  );
  expect(harness.logLines.some((line) => line.includes('"level":50') && line.includes('request failed"'))).toBe(false);
}, 90_000);

test('the embedded PostgreSQL is restarted when its postmaster is killed (kill -9), and the server says so', async () => {
  const dataDir = await makeRunDir();
  cleanups.push(() => fs.rm(dataDir, { recursive: true, force: true }));
  const harness = await startHarness({ dataDir });
  await createAndClaim(harness);
  const pgDataDir = path.join(dataDir, 'pg');
  const before = (await readPostmasterPid(pgDataDir))!.pid;
  expect(isProcessAlive(before)).toBe(true);

  process.kill(before, 'SIGKILL');
  await pollUntil(() => harness.logLines.find((line) => line.includes('PostgreSQL restarted')), { description: 'the log to say PostgreSQL was restarted', timeoutMs: 60_000 });
  expect(harness.logLines.some((line) => line.includes(`PostgreSQL (pid ${before})`) && line.includes('exited unexpectedly'))).toBe(true);
  const after = (await readPostmasterPid(pgDataDir))!.pid;
  expect(after).not.toBe(before);

  await pollUntil(async () => (await health(harness)).status, { until: (status) => status === 200, description: '/healthz to say 200 after the restart', timeoutMs: 30_000 });
  await createAndClaim(harness);

  // Stopping the server stops the PostgreSQL it restarted, not only the one it started.
  await harness.server.close();
  await pollUntil(async () => (await processesServing(pgDataDir)).length, { until: (count) => count === 0, description: 'no PostgreSQL left on the data dir' });
}, 120_000);
