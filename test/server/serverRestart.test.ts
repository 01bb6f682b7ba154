/**
 * After a server restart every worker's last heartbeat looks as old as the outage. The lost-worker sweep must give
 * workers one heartbeat timeout to reach the restarted server before declaring them lost, or a restart would
 * kill (requeue) all running work.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { compileServerConfig } from '../../server/config';
import { startServer, type RunningServer } from '../../server/startServer';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { httpRequest, expectStatus, sleep } from '../helpers/server';
import { waitUntilWorkersSilent } from '../helpers/workerSilence';

/** Short, so the test waits little; long enough that the sweep right after a restart runs well within it. */
const HEARTBEAT_TIMEOUT_S = 1;

let db: TestDatabase;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'worksched-restart-test-'));
const servers: RunningServer[] = [];

async function start(): Promise<RunningServer> {
  const server = await startServer(
    compileServerConfig({ databaseUrl: db.url, port: 0, dataDir, logLevel: 'silent', heartbeatTimeoutS: HEARTBEAT_TIMEOUT_S, housekeepingIntervalS: 59 }),
  );
  servers.push(server);
  return server;
}

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  for (const server of servers) await server.close().catch(() => undefined);
  await db.drop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('a restarted server does not declare workers lost before they had one timeout to reach it', async () => {
  let server = await start();
  const registered = expectStatus(
    await httpRequest<{ token: string }>(server.url, 'POST', '/api/v1/workers/register', {
      token: server.enrollmentToken,
      body: { name: 'w1', resources: { cpu_count: 2, total_memory: 2 ** 30, available_memory: 2 ** 30, available_disk_space: 2 ** 34 } },
    }),
    201,
    'register',
  ).body;
  const created = expectStatus(
    await httpRequest<{ id: number }>(server.url, 'POST', '/api/v1/work-requests', {
      token: server.adminToken,
      body: { task_name: 'long', execution: { executable: '/bin/sleep', args: ['60'] } },
    }),
    201,
    'create',
  ).body;
  const claimed = expectStatus(
    await httpRequest<{ work_requests: Array<{ id: number }> }>(server.url, 'POST', '/api/v1/workers/claim', { token: registered.token, body: { max: 1 } }),
    200,
    'claim',
  ).body;
  expect(claimed.work_requests.map((item) => item.id)).toEqual([created.id]);

  await server.close();
  await waitUntilWorkersSilent(db.url, HEARTBEAT_TIMEOUT_S + 0.2); // the outage outlasts the heartbeat timeout
  server = await start();
  await server.housekeeping.runOnce(); // at once, before the worker's first heartbeat to the new process

  const afterRestart = expectStatus(
    await httpRequest<{ status: string; attempt: number }>(server.url, 'GET', `/api/v1/work-requests/${created.id}`, { token: server.adminToken }),
    200,
    'get',
  ).body;
  expect(afterRestart).toMatchObject({ status: 'running', attempt: 1 });

  // A worker that stays silent for a whole timeout after the restart is lost, as usual.
  await sleep(HEARTBEAT_TIMEOUT_S * 1000 + 200);
  await server.housekeeping.runOnce();
  const later = expectStatus(
    await httpRequest<{ status: string; attempt: number }>(server.url, 'GET', `/api/v1/work-requests/${created.id}`, { token: server.adminToken }),
    200,
    'get',
  ).body;
  expect(later).toMatchObject({ status: 'pending', attempt: 2 });
});
