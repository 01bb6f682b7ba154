/**
 * Schedules are rows, not timers: two `worksched server` processes on one database fire an `every: "2s"`
 * schedule exactly once per tick over 20 s, and it goes on firing when the process it was created on is
 * killed; after a downtime of three periods, catch_up latest fires once for the missed times and none not at all.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Schedule } from '../../protocol/schedules';
import { withClient } from '../../common/withClient';
import { compileServerConfig } from '../../server/config';
import { startServer, type RunningServer } from '../../server/startServer';
import { cleanup, freePort, startServerProcess, tmpDir } from '../e2e/support';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { expectStatus, httpRequest, sleep, taskSpec } from '../helpers/server';
import { pollUntil } from '../helpers/waitFor';

jest.setTimeout(120_000);

let db: TestDatabase;
const ADMIN = 'replica-admin-token-0123456789abcdef';
const ENROLL = 'replica-enrollment-token-0123456789ab';

beforeEach(async () => {
  db = await createTestDatabase();
});

afterEach(async () => {
  await cleanup();
  await db.drop();
});

const firingsOf = (name: string) =>
  withClient(db.url, async (client) =>
    (
      await client.query<{ fire_time: Date; work_request_id: string | null; reason: string }>(
        `select f.fire_time, f.work_request_id, f.reason from schedule_firing f join schedule s on s.id = f.schedule_id where s.name = $1 order by f.fire_time`,
        [name],
      )
    ).rows,
  );
const scheduledWork = (name: string) =>
  withClient(db.url, async (client) => (await client.query<{ id: string }>(`select id from work_request where schedule = $1`, [name])).rows.map((row) => Number(row.id)));

test('two server processes on one database fire each 2 s tick exactly once over 20 s, and on after one of them is killed', async () => {
  const [portA, portB] = [await freePort(), await freePort()];
  const common = { databaseUrl: db.url, adminToken: ADMIN, enrollmentToken: ENROLL };
  const a = await startServerProcess({ ...common, port: portA, dataDir: tmpDir('replica-a') });
  const b = await startServerProcess({ ...common, port: portB, dataDir: tmpDir('replica-b') });
  const urlA = `http://127.0.0.1:${portA}`;
  const urlB = `http://127.0.0.1:${portB}`;
  const name = 'replicated-every-2s';
  expectStatus(
    await httpRequest(urlA, 'POST', '/api/v1/schedules', { token: ADMIN, body: { name, trigger: { every: '2s' }, overlap: 'allow', spec: taskSpec() } }),
    201,
    'create on A',
  );
  const startedAt = Date.now();
  await pollUntil(() => Date.now() - startedAt >= 20_000, { description: '20 s of ticks', timeoutMs: 30_000, intervalMs: 500 });
  const firings = await firingsOf(name);
  const times = firings.map((firing) => firing.fire_time.getTime());
  expect(firings.length).toBeGreaterThanOrEqual(9);
  // One firing per 2 s tick: no tick twice (the key is unique) and none left out.
  expect(times.slice(1).map((time, index) => time - times[index])).toEqual(times.slice(1).map(() => 2000));
  const work = await scheduledWork(name);
  expect(work.sort((x, y) => x - y)).toEqual(firings.map((firing) => Number(firing.work_request_id)).sort((x, y) => x - y));

  // The replica the schedule was created on dies; the other goes on firing it.
  a.killGroup();
  await a.waitForExit(10_000);
  const before = times.length;
  const after = await pollUntil(() => firingsOf(name), { description: 'firings after A died', until: (list) => list.length >= before + 3, timeoutMs: 20_000 });
  const later = after.map((firing) => firing.fire_time.getTime());
  expect(later.slice(1).map((time, index) => time - later[index]).every((gap) => gap === 2000)).toBe(true);
  expect((await httpRequest<Schedule>(urlB, 'GET', `/api/v1/schedules/${name}`, { token: ADMIN })).body.firings_count).toBe(after.length);
  b.killGroup();
});

test('down for three periods: catch_up latest fires once for the missed times on return, none not at all', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'worksched-catch-up-'));
  const start = () => startServer(compileServerConfig({ databaseUrl: db.url, port: 0, dataDir, logLevel: 'silent', housekeepingIntervalS: 59 }));
  let server: RunningServer = await start();
  try {
    for (const catchUp of ['latest', 'none'] as const) {
      expectStatus(
        await httpRequest(server.url, 'POST', '/api/v1/schedules', {
          token: server.adminToken,
          body: { name: `catch-up-${catchUp}`, trigger: { every: '2s' }, overlap: 'allow', catch_up: catchUp, spec: taskSpec() },
        }),
        201,
        `create ${catchUp}`,
      );
    }
    await pollUntil(async () => (await firingsOf('catch-up-none')).length >= 1 && (await firingsOf('catch-up-latest')).length >= 1, {
      description: 'a first firing of each',
    });
    await server.close();
    const downAt = Date.now();
    await sleep(3 * 2000 + 1500); // the outage itself: three periods and a half with no server
    server = await start();
    const upAt = Date.now();
    await pollUntil(async () => (await firingsOf('catch-up-none')).some((firing) => firing.fire_time.getTime() > downAt), {
      description: 'the first regular firing after the return',
    });
    // Fired during or for the outage: fire times after the stop, up to the return (and its first tick).
    const forOutage = async (name: string) => (await firingsOf(name)).filter((firing) => firing.fire_time.getTime() > downAt && (firing.reason === 'catch_up' || firing.fire_time.getTime() <= upAt));
    const latest = await forOutage('catch-up-latest');
    expect(latest.map((firing) => firing.reason)).toEqual(['catch_up']);
    // The latest missed time: within one period (and the first tick) of the return.
    expect(Math.abs(upAt - latest[0].fire_time.getTime())).toBeLessThanOrEqual(3000);
    expect(await forOutage('catch-up-none')).toEqual([]);
    expect((await firingsOf('catch-up-none')).filter((firing) => firing.reason === 'catch_up')).toEqual([]);
  } finally {
    await server.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
