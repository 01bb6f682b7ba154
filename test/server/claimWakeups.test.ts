/**
 * Long-poll wake-ups: a new request wakes as many waiting claimers as it needs, not every idle one, and every
 * request is still claimed promptly.
 */
import type { ClaimedWorkRequest } from '../../protocol/workerApi';
import { claimTransactionCount, expectStatus, sleep, startTestServer, type SimWorker, type TestServer } from '../helpers/server';
import { pollUntil } from '../helpers/waitFor';

const IDLE_WORKERS = 24;
let server: TestServer;

beforeEach(async () => {
  server = await startTestServer();
});

afterEach(async () => {
  await server?.close();
});

/** Each worker long-polls for one request at a time until stopped; collects what it got and when. */
function longPollLoops(workers: SimWorker[], stop: AbortSignal, got: Array<{ item: ClaimedWorkRequest; at: number }>): Promise<void[]> {
  return Promise.all(
    workers.map(async (worker) => {
      while (!stop.aborted) {
        const answer = await worker.claim({ max: 1, wait_s: 30 }, stop).catch(() => null);
        if (!answer) return;
        expectStatus(answer, 200, 'long-poll claim');
        for (const item of answer.body.work_requests) {
          got.push({ item, at: performance.now() });
          expectStatus(await worker.complete(item.id), 200, 'complete');
        }
      }
    }),
  );
}

test(`${IDLE_WORKERS} idle long-polling workers: one new request costs O(1) claim transactions, a burst is claimed promptly`, async () => {
  const workers: SimWorker[] = [];
  for (let i = 0; i < IDLE_WORKERS; i += 1) workers.push(await server.registerWorker({ concurrency: 1 }));
  const stop = new AbortController();
  const got: Array<{ item: ClaimedWorkRequest; at: number }> = [];
  const before = await claimTransactionCount(server);
  const loops = longPollLoops(workers, stop.signal, got);
  try {
    await pollUntil(async () => (await claimTransactionCount(server)) >= before + IDLE_WORKERS, { description: 'every worker parked', intervalMs: 20 });
    await sleep(200);

    for (let round = 0; round < 5; round += 1) {
      const idle = await claimTransactionCount(server);
      const created = await server.createWorkRequest();
      const createdAt = performance.now();
      await pollUntil(() => got.some((entry) => entry.item.id === created.id), { description: `request ${created.id} claimed`, intervalMs: 5 });
      const claimedAt = got.find((entry) => entry.item.id === created.id)!.at;
      await sleep(300); // anything else it woke has run by now
      const spent = (await claimTransactionCount(server)) - idle;
      console.info(`round ${round}: 1 create with ${IDLE_WORKERS} idle claimers: ${spent} claim transactions, claimed ${(claimedAt - createdAt).toFixed(1)} ms after the create returned`);
      // The woken claimer's transaction, and its next long-poll's first check: not one per idle worker.
      expect(spent).toBeLessThanOrEqual(3);
      expect(claimedAt - createdAt).toBeLessThan(200);
    }

    // A burst: every request is claimed promptly (well before any slice timeout), each exactly once.
    const idle = await claimTransactionCount(server);
    const burst = await Promise.all(Array.from({ length: 12 }, () => server.createWorkRequest()));
    const burstAt = performance.now();
    await pollUntil(() => burst.every((request) => got.some((entry) => entry.item.id === request.id)), { description: 'the burst claimed', intervalMs: 5 });
    const last = Math.max(...burst.map((request) => got.find((entry) => entry.item.id === request.id)!.at));
    await sleep(300);
    const spent = (await claimTransactionCount(server)) - idle;
    console.info(`burst of ${burst.length} creates: ${spent} claim transactions, last claimed ${(last - burstAt).toFixed(0)} ms after the creates returned`);
    expect(last - burstAt).toBeLessThan(1_000);
    expect(spent).toBeLessThanOrEqual(burst.length * 3);
    const ids = got.map((entry) => entry.item.id);
    expect(new Set(ids).size).toBe(ids.length);
  } finally {
    stop.abort();
    await loops;
  }
});
