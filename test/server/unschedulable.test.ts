/**
 * Unschedulable requests: a pending request no enabled worker can run says why in `state_reason` (at creation,
 * and refreshed by housekeeping as workers come and go), so an operator sees what it waits for.
 */
import type { WorkRequest } from '../../protocol/workRequest';
import { GiB, expectStatus, startTestServer, type SimWorker, type TestServer } from '../helpers/server';

let server: TestServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function stateReason(s: TestServer, id: number): Promise<string | null> {
  return (await s.getWorkRequest(id)).state_reason;
}

async function claimedIds(worker: SimWorker): Promise<number[]> {
  return (await worker.claimOk({ max: 10 })).map((item) => item.id);
}

test('needs 64 GiB with only small workers: the reason names both sizes; a big enough worker plus a housekeeping pass clears it', async () => {
  // Housekeeping's own cron is made rare so that runOnce() is what refreshes the reasons here.
  server = await startTestServer({ housekeepingIntervalS: 59 });
  const s = server;
  const eight = await s.registerWorker({ totalMemory: 8 * GiB });
  const four = await s.registerWorker({ totalMemory: 4 * GiB });
  const created = await s.createWorkRequest({ resources: { memory: '64GiB' } });
  const expected = 'cannot run on any registered worker: needs 64.0 GiB memory; the largest worker has 8.0 GiB';
  expect(created.state_reason).toBe(expected);
  expect(await stateReason(s, created.id)).toBe(expected);
  expect(created.status).toBe('pending');
  // A schedulable request next to it has no reason.
  const ordinary = await s.createWorkRequest({ resources: { memory: '1GiB' } });
  expect(ordinary.state_reason).toBeNull();
  expect(await claimedIds(eight)).toEqual([ordinary.id]);
  expect(await claimedIds(four)).toEqual([]);
  // A pass with nothing new keeps the reason.
  await s.runHousekeeping();
  expect(await stateReason(s, created.id)).toBe(expected);

  const big = await s.registerWorker({ totalMemory: 128 * GiB });
  await s.runHousekeeping();
  expect(await stateReason(s, created.id)).toBeNull();
  expect(await claimedIds(big)).toEqual([created.id]);
});

test('with no worker at all the reason says no worker is registered, then names what is missing once one registers', async () => {
  server = await startTestServer({ housekeepingIntervalS: 59 });
  const s = server;
  const huge = await s.createWorkRequest({ resources: { memory: '64GiB' } });
  const plain = await s.createWorkRequest();
  for (const request of [huge, plain]) {
    expect(request.state_reason).toMatch(/no enabled worker is registered/);
    expect(await stateReason(s, request.id)).toMatch(/no enabled worker is registered/);
  }

  await s.registerWorker({ totalMemory: 4 * GiB });
  await s.runHousekeeping();
  expect(await stateReason(s, huge.id)).toBe('cannot run on any registered worker: needs 64.0 GiB memory; the largest worker has 4.0 GiB');
  expect(await stateReason(s, plain.id)).toBeNull();
});

test('tags, cpu and disk shortfalls are explained too, and refreshed per distinct set of needs', async () => {
  server = await startTestServer({ housekeepingIntervalS: 59 });
  const s = server;
  await s.registerWorker({ cpuCount: 4, availableDisk: 50 * GiB, tags: ['linux'] });
  const tagged = await s.createWorkRequest({ resources: { tags: ['linux', 'cuda'] } });
  const manyCores = await s.createWorkRequest({ resources: { cpu: 16 } });
  const bigDisk = await s.createWorkRequest({ resources: { disk: '500GiB' } });
  const twoTagged: WorkRequest[] = [tagged, await s.createWorkRequest({ resources: { tags: ['linux', 'cuda'] } })];
  for (const request of twoTagged) expect(request.state_reason).toBe('cannot run on any registered worker: needs tags linux, cuda; no worker has all of them');
  expect(manyCores.state_reason).toBe('cannot run on any registered worker: needs 16 cpus; the largest worker has 4');
  expect(bigDisk.state_reason).toBe('cannot run on any registered worker: needs 500.0 GiB free disk; the most any worker has is 50.0 GiB');

  const cudaBox = await s.registerWorker({ cpuCount: 4, availableDisk: 50 * GiB, tags: ['linux', 'cuda', 'amd64'] });
  await s.runHousekeeping();
  for (const request of twoTagged) expect(await stateReason(s, request.id)).toBeNull();
  expect(await stateReason(s, manyCores.id)).toMatch(/needs 16 cpus/);
  expect(await stateReason(s, bigDisk.id)).toMatch(/needs 500\.0 GiB free disk/);
  expect((await claimedIds(cudaBox)).sort((a, b) => a - b)).toEqual([tagged.id]); // concurrency 1
  expectStatus(await cudaBox.complete(tagged.id), 200, 'complete');
  expect(await claimedIds(cudaBox)).toEqual([twoTagged[1].id]);
});
