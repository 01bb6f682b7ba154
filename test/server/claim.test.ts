/**
 * Claiming: many workers at once never share or lose a request, requirements and concurrency are respected,
 * priority then age decides the order, and the long-poll wakes within 200 ms of new work.
 */
import type { ClaimedWorkRequest, HeartbeatResponse } from '../../protocol/workerApi';
import { claimTransactionCount, connectLockHolder, expectStatus, GiB, sleep, startTestServer, uniqueTaskName, type ApiResponse, type SimWorker, type TestServer } from '../helpers/server';
import { pollUntil } from '../helpers/waitFor';
import { compileServerConfig } from '../../server/config';
import { schedulingPolicyOf } from '../../server/history/schedulingPolicy';
import { recordHeartbeat } from '../../server/workers/heartbeat';

let server: TestServer;

// A fresh server and database per test: a claim takes any pending request that fits, so tests must not share.
beforeEach(async () => {
  server = await startTestServer();
});

afterEach(async () => {
  await server?.close();
});

const byId = (a: number, b: number) => a - b;
const idsOf = (items: ClaimedWorkRequest[]) => items.map((item) => item.id);

/** Runs `work` over `items` with at most `parallel` at a time. */
async function inParallel<T, R>(items: T[], parallel: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await work(items[index], index);
      }
    }),
  );
  return results;
}

test('16 concurrent claimers over 500 requests: each request is claimed exactly once, none is lost', async () => {
  const total = 500;
  const taskName = uniqueTaskName('race');
  const created = await inParallel(Array.from({ length: total }, (_, i) => i), 8, async (i) => (await server.createWorkRequest({ task_name: taskName, priority: i % 5 })).id);
  expect(new Set(created).size).toBe(total);

  const workers = await inParallel(Array.from({ length: 16 }, (_, i) => i), 4, () => server.registerWorker({ concurrency: 4 }));
  const claimedBy = new Map<number, number[]>(); // request id → every worker whose claim answer carried it
  const failures: string[] = [];
  let claimCalls = 0;
  const started = performance.now();

  // Each worker claims up to 4, completes them, and claims again; an empty answer means nothing unlocked was
  // pending at that moment (rows another claim had locked are that claim's), so the worker stops.
  await Promise.all(
    workers.map(async (worker) => {
      for (;;) {
        claimCalls += 1;
        const answer = await worker.claim({ max: 4, wait_s: 0 });
        if (answer.status !== 200) {
          failures.push(`claim by ${worker.name}: HTTP ${answer.status} ${answer.text}`);
          return;
        }
        const items = answer.body.work_requests;
        if (items.length === 0) return;
        if (items.length > 4) failures.push(`${worker.name} got ${items.length} requests with concurrency 4`);
        for (const item of items) claimedBy.set(item.id, [...(claimedBy.get(item.id) ?? []), worker.id]);
        for (const item of items) {
          const done = await worker.complete(item.id, { result: 'success' });
          if (done.status !== 200) failures.push(`complete ${item.id} by ${worker.name}: HTTP ${done.status} ${done.text}`);
        }
      }
    }),
  );
  const elapsed = performance.now() - started;
  console.info(`claim race: ${total} requests, 16 workers, ${claimCalls} claim calls, ${elapsed.toFixed(0)} ms (claims + completions)`);

  expect(failures).toEqual([]);
  const duplicates = [...claimedBy].filter(([, claimers]) => claimers.length > 1);
  expect(duplicates).toEqual([]);
  const lost = created.filter((id) => !claimedBy.has(id));
  expect(lost).toEqual([]);
  expect([...claimedBy.keys()].sort(byId)).toEqual([...created].sort(byId));
  // Work was actually spread: more than one worker took part.
  expect(new Set([...claimedBy.values()].map((claimers) => claimers[0])).size).toBeGreaterThan(1);

  // The database agrees: every request completed, by the worker whose claim answer carried it.
  const rows = await server.sql<{ id: string; status: string; worker_id: string | null }>(
    'select id, status, worker_id from work_request where task_name = $1',
    [taskName],
  );
  expect(rows).toHaveLength(total);
  const mismatched = rows.filter((row) => row.status !== 'completed' || Number(row.worker_id) !== claimedBy.get(Number(row.id))?.[0]);
  expect(mismatched).toEqual([]);
}, 240_000); // ~1000 HTTP calls: slow on a loaded 2-core machine, and timing is not the point here

test('a claimer only gets requests its resources satisfy (memory, cpu, disk, tags)', async () => {
  const small = await server.registerWorker({ totalMemory: 1 * GiB, cpuCount: 1, availableDisk: 10 * GiB, tags: [], concurrency: 20 });
  const big = await server.registerWorker({ totalMemory: 4 * GiB, cpuCount: 4, availableDisk: 100 * GiB, tags: ['linux', 'gpu-box'], concurrency: 20 });

  const create = async (resources: Record<string, unknown>) => (await server.createWorkRequest({ resources })).id;
  const memory2g = await create({ memory: '2GiB' });
  const memory1g = await create({ memory: '1GiB' }); // exactly the small worker's memory: fits
  const cpu2 = await create({ cpu: 2 });
  const disk50g = await create({ disk: '50GiB' });
  const tagged = await create({ tags: ['linux'] });
  const plain = await create({});
  const memory8g = await create({ memory: 8 * GiB }); // nobody has 8 GiB
  const twoTags = await create({ tags: ['linux', 'arm64'] }); // nobody has both

  const smallGot = idsOf(await small.claimOk({ max: 20 })).sort(byId);
  expect(smallGot).toEqual([memory1g, plain]);
  expect(await small.claimOk({ max: 20 })).toEqual([]);

  const bigGot = idsOf(await big.claimOk({ max: 20 })).sort(byId);
  expect(bigGot).toEqual([memory2g, cpu2, disk50g, tagged]);
  expect(await big.claimOk({ max: 20 })).toEqual([]);

  for (const id of [memory8g, twoTags]) expect((await server.getWorkRequest(id)).status).toBe('pending');
  const owners = await server.sql<{ id: string; worker_id: string | null }>('select id, worker_id from work_request where status = $1 order by id', ['running']);
  expect(owners.map((row) => [Number(row.id), Number(row.worker_id)])).toEqual(
    [...smallGot.map((id) => [id, small.id]), ...bigGot.map((id) => [id, big.id])].sort((a, b) => a[0] - b[0]),
  );

  // A worker whose heartbeat reports more memory gets the bigger work from then on.
  const grown = expectStatus(
    await small.call<HeartbeatResponse>('POST', '/api/v1/workers/heartbeat', {
      running: [memory1g, plain],
      resources: { cpu_count: 1, total_memory: 16 * GiB, available_memory: 16 * GiB, available_disk_space: 10 * GiB },
    }),
    200,
    'heartbeat with resources',
  );
  expect(grown.body.cancel).toEqual([]);
  expect(idsOf(await small.claimOk({ max: 20 }))).toEqual([memory8g]);
});

test('concurrency: a worker with concurrency 2 asking for 10 gets 2, then none until one completes', async () => {
  const worker = await server.registerWorker({ concurrency: 2 });
  const ids: number[] = [];
  for (let i = 0; i < 5; i += 1) ids.push((await server.createWorkRequest()).id);

  const first = idsOf(await worker.claimOk({ max: 10 }));
  expect(first).toEqual(ids.slice(0, 2));
  expect(await worker.claimOk({ max: 10 })).toEqual([]);

  expectStatus(await worker.complete(first[0]), 200, 'complete');
  expect(idsOf(await worker.claimOk({ max: 10 }))).toEqual([ids[2]]);
  expect(await worker.claimOk({ max: 10 })).toEqual([]);

  // Several slots polling at once still never exceed the concurrency.
  expectStatus(await worker.complete(first[1]), 200, 'complete');
  expectStatus(await worker.complete(ids[2]), 200, 'complete');
  const parallel = await Promise.all(Array.from({ length: 6 }, () => worker.claimOk({ max: 10 })));
  expect(parallel.flat().map((item) => item.id).sort(byId)).toEqual([ids[3], ids[4]]);
  const running = await server.sql<{ n: string }>(`select count(*) as n from work_request where status = 'running' and worker_id = $1`, [worker.id]);
  expect(Number(running[0].n)).toBe(2);
});

test('priority order: higher priority first, then older first (one at a time and in one batch)', async () => {
  const worker = await server.registerWorker({ concurrency: 20 });
  const priorities = [0, 5, -1, 5, 10, 0];
  const ids: number[] = [];
  for (const priority of priorities) ids.push((await server.createWorkRequest({ priority })).id);
  const expected = [ids[4], ids[1], ids[3], ids[0], ids[5], ids[2]];

  const oneByOne: number[] = [];
  for (let i = 0; i < priorities.length; i += 1) {
    const got = await worker.claimOk({ max: 1 });
    expect(got).toHaveLength(1);
    oneByOne.push(got[0].id);
  }
  expect(oneByOne).toEqual(expected);
  expect(await worker.claimOk({ max: 1 })).toEqual([]);

  const batchIds: number[] = [];
  for (const priority of priorities) batchIds.push((await server.createWorkRequest({ priority })).id);
  const batch = idsOf(await worker.claimOk({ max: 3 }));
  expect(batch).toEqual([batchIds[4], batchIds[1], batchIds[3]]);
});

/**
 * Resolves once each worker's claim sent after `since` has run its first claim transaction (the server counts
 * them): it found nothing and is parked in its wait, or about to be (it subscribed before querying, so no
 * wake-up is lost). Only these workers' claims may run meanwhile.
 */
async function waitUntilClaimsParked(s: TestServer, workers: SimWorker[], since: number): Promise<void> {
  await pollUntil(async () => (await claimTransactionCount(s)) >= since + workers.length, {
    description: `the claims of workers ${workers.map((worker) => worker.id).join(', ')} to be parked`,
    intervalMs: 20,
  });
}

test('long-poll: a waiting claimer gets a request created meanwhile within 200 ms; an empty answer only after wait_s', async () => {
  const worker = await server.registerWorker({ concurrency: 1 });
  const latencies: number[] = [];
  for (let round = 0; round < 5; round += 1) {
    const claimStarted = performance.now();
    const claim = worker.claim({ max: 1, wait_s: 10 }).then((answer) => ({ answer, at: performance.now() }));
    await sleep(400); // the claim is parked in its wait by now
    const createStarted = performance.now();
    const request = await server.createWorkRequest();
    const createReturned = performance.now();
    const { answer, at } = await claim;
    expectStatus(answer, 200, 'long-poll claim');
    expect(idsOf(answer.body.work_requests)).toEqual([request.id]);
    // It really waited (it did not answer before the request existed) ...
    expect(at).toBeGreaterThan(createStarted);
    expect(at - claimStarted).toBeGreaterThan(350);
    // ... and woke within 200 ms of the create call's return.
    latencies.push(at - createReturned);
    expectStatus(await worker.complete(request.id), 200, 'complete');
  }
  console.info(`long-poll wake-up after create returned (ms, negative = before): ${latencies.map((ms) => ms.toFixed(1)).join(', ')}`);
  for (const latency of latencies) expect(latency).toBeLessThanOrEqual(200);

  // Nothing comes: an empty list after wait_s (≈1 s), not before.
  const started = performance.now();
  const empty = await worker.claim({ max: 1, wait_s: 1 });
  const elapsed = performance.now() - started;
  console.info(`long-poll with wait_s=1 and no work answered after ${elapsed.toFixed(0)} ms`);
  expectStatus(empty, 200, 'empty long-poll');
  expect(empty.body.work_requests).toEqual([]);
  expect(elapsed).toBeGreaterThanOrEqual(990);
  expect(elapsed).toBeLessThan(3_000);

  // wait_s 0 answers at once.
  const immediate = await worker.claim({ max: 1, wait_s: 0 });
  expect(immediate.body.work_requests).toEqual([]);
  expect(immediate.elapsedMs).toBeLessThan(900);
});

test('a long-poll that only finds work too big for it keeps waiting, and other workers are woken for it', async () => {
  const small = await server.registerWorker({ totalMemory: 1 * GiB });
  const big = await server.registerWorker({ totalMemory: 8 * GiB });
  const since = await claimTransactionCount(server);
  const smallClaim = small.claim({ max: 1, wait_s: 2 }).then((answer) => ({ answer, at: performance.now() }));
  const bigClaim = big.claim({ max: 1, wait_s: 10 }).then((answer) => ({ answer, at: performance.now() }));
  await waitUntilClaimsParked(server, [small, big], since);
  const request = await server.createWorkRequest({ resources: { memory: '4GiB' } });
  const created = performance.now();
  const bigResult = await bigClaim;
  expect(idsOf(bigResult.answer.body.work_requests)).toEqual([request.id]);
  expect(bigResult.at - created).toBeLessThanOrEqual(200);
  const smallResult = await smallClaim;
  expect(smallResult.answer.body.work_requests).toEqual([]);
});

async function abortedLongPollLeavesNothingStranded(delayBeforeCreateMs: number): Promise<void> {
  const quitter = await server.registerWorker();
  const other = await server.registerWorker();
  const controller = new AbortController();
  const since = await claimTransactionCount(server);
  const abandoned: Promise<ApiResponse | 'aborted'> = quitter.claim({ max: 1, wait_s: 10 }, controller.signal).catch(() => 'aborted' as const);
  await waitUntilClaimsParked(server, [quitter], since);
  controller.abort();
  expect(await abandoned).toBe('aborted');
  if (delayBeforeCreateMs > 0) await sleep(delayBeforeCreateMs);
  const request = await server.createWorkRequest();

  const got = expectStatus(await other.claim({ max: 1, wait_s: 5 }), 200, 'claim by the other worker');
  expect(idsOf(got.body.work_requests)).toEqual([request.id]);
  const rows = await server.sql<{ status: string; worker_id: string | null }>('select status, worker_id from work_request where id = $1', [request.id]);
  expect(rows).toEqual([{ status: 'running', worker_id: String(other.id) }]);
  const strandedOnQuitter = await server.sql(`select id from work_request where worker_id = $1 and status = 'running'`, [quitter.id]);
  expect(strandedOnQuitter).toEqual([]);
}

test('an aborted long-poll does not strand a request created after the abort', async () => {
  await abortedLongPollLeavesNothingStranded(300);
});

test('an aborted long-poll does not strand a request created right after the abort', async () => {
  await abortedLongPollLeavesNothingStranded(0);
});

test('a claimer that hangs up before its long-poll starts waiting (the reports it carried still being applied) strands nothing', async () => {
  // The real agent's claim carries its finished reports; a worker stopped (SIGTERM: it aborts its claim) while
  // the server still applies them hangs up before the long-poll starts listening for the hang-up. That
  // long-poll must not go on waiting for a client that is gone: it would claim the next request for a worker
  // that never hears of it, stranded until the lost-worker sweep makes it a second attempt.
  const quitter = await server.registerWorker();
  const other = await server.registerWorker();
  const finished = await server.createWorkRequest();
  expect(idsOf(await quitter.claimOk({ max: 1, wait_s: 0 }))).toEqual([finished.id]);
  const holder = await connectLockHolder(server);
  try {
    // The report's row is locked here, so the claim's completion waits until the quitter has hung up.
    await holder.query('begin');
    await holder.query('select id from work_request where id = $1 for update', [finished.id]);
    const controller = new AbortController();
    const abandoned = quitter.claim({ max: 1, wait_s: 20, results: [{ id: finished.id, result: 'success' }] }, controller.signal).catch(() => 'aborted' as const);
    await pollUntil(async () => (await server.sql(`select pid from pg_locks where locktype = 'transactionid' and not granted`)).length > 0, {
      description: 'the claim\'s completion to wait on the locked row',
      intervalMs: 20,
    });
    controller.abort();
    expect(await abandoned).toBe('aborted');
    await sleep(200); // the server's side of the connection has closed by now
  } finally {
    await holder.query('commit');
    await holder.end();
  }
  // The completion was applied (the worker cannot tell: it sends it again at its next start and gets a 409).
  await pollUntil(async () => (await server.getWorkRequest(finished.id)).status === 'completed', { description: `request ${finished.id} to be completed`, intervalMs: 20 });
  await sleep(200);
  const request = await server.createWorkRequest();
  const got = expectStatus(await other.claim({ max: 1, wait_s: 5 }), 200, 'claim by the other worker');
  const rows = await server.sql<{ status: string; worker_id: string | null }>('select status, worker_id from work_request where id = $1', [request.id]);
  // Without the fix: running on the quitter, whose long-poll took it after it had hung up.
  expect({ quitter: quitter.id, row: rows[0] }).toEqual({ quitter: quitter.id, row: { status: 'running', worker_id: String(other.id) } });
  expect(idsOf(got.body.work_requests)).toEqual([request.id]);
});

test('several aborted long-polls in a row leave every request claimable', async () => {
  const quitters: SimWorker[] = [];
  for (let i = 0; i < 4; i += 1) quitters.push(await server.registerWorker());
  const controllers = quitters.map(() => new AbortController());
  const since = await claimTransactionCount(server);
  const claims = quitters.map((worker, i) => worker.claim({ max: 1, wait_s: 10 }, controllers[i].signal).catch(() => 'aborted'));
  await waitUntilClaimsParked(server, quitters, since);
  for (const controller of controllers) controller.abort();
  await Promise.all(claims);
  const ids: number[] = [];
  for (let i = 0; i < 4; i += 1) ids.push((await server.createWorkRequest()).id);
  const taker = await server.registerWorker({ concurrency: 10 });
  const got: number[] = [];
  const deadline = Date.now() + 10_000;
  while (got.length < ids.length && Date.now() < deadline) got.push(...idsOf(await taker.claimOk({ max: 10, wait_s: 1 })));
  expect(got.sort(byId)).toEqual(ids);
});

test('long-polls aborted just as work arrives never strand it (30 rounds, abort 0–5 ms after the create returns)', async () => {
  // The window that matters: the server has claimed the request for the long-poll and written the answer, and
  // the claimer hangs up before reading it. The server cannot tell whether the answer arrived, so the guarantee
  // is at-least-once: once the worker's heartbeat no longer lists the request past the claim grace period, it is
  // pending again and another worker gets it. (A worker that stops heartbeating is covered by the lost-worker
  // sweep, tested in lostWorkers.test.ts.)
  const claimGraceS = 0.2;
  const graceServer = await startTestServer({ claimGraceS });
  try {
    const other = await graceServer.registerWorker({ concurrency: 100 });
    const stranded: string[] = [];
    let undelivered = 0;
    for (let round = 0; round < 30; round += 1) {
      const quitter = await graceServer.registerWorker();
      const controller = new AbortController();
      const since = await claimTransactionCount(graceServer);
      const abandoned = quitter.claim({ max: 1, wait_s: 10 }, controller.signal).then(
        () => true,
        () => false,
      );
      await waitUntilClaimsParked(graceServer, [quitter], since);
      const request = await graceServer.createWorkRequest();
      await sleep(round % 6);
      controller.abort();
      if (await abandoned) {
        // The answer arrived before the abort: the quitter really has it; nothing to check this round.
        expectStatus(await quitter.complete(request.id), 200, 'complete delivered request');
        continue;
      }
      undelivered += 1;
      let got = await other.claimOk({ max: 1, wait_s: 0 });
      if (got.length === 0) {
        // Claimed for the quitter and the answer lost: its next heartbeat after the grace period gives it back.
        await pollUntil(
          async () => {
            const sql = `select status <> 'running' or started_at < now() - make_interval(secs => $2) as past from work_request where id = $1`;
            return (await graceServer.sql<{ past: boolean }>(sql, [request.id, claimGraceS]))[0]?.past;
          },
          { description: `the claim grace of request ${request.id} to pass`, intervalMs: 50 },
        );
        expectStatus(await quitter.heartbeat([]), 200, 'quitter heartbeat');
        got = await other.claimOk({ max: 1, wait_s: 3 });
      }
      if (got.length !== 1 || got[0].id !== request.id) {
        const rows = await graceServer.sql<{ status: string; worker_id: string | null }>('select status, worker_id from work_request where id = $1', [request.id]);
        stranded.push(`round ${round} (abort ${round % 6} ms after create): request ${request.id} is ${rows[0]?.status} on worker ${rows[0]?.worker_id} (the quitter is ${quitter.id})`);
      }
    }
    console.info(`aborted long-polls: ${undelivered} of 30 rounds hung up before the answer; ${stranded.length} stranded a request`);
    expect(stranded).toEqual([]);
  } finally {
    await graceServer.close();
  }
}, 180_000);

test('the claim grace counts from when a heartbeat arrived: one that waited in the server does not give back a request claimed just before', async () => {
  // A heartbeat written before the claim answer reached the worker lists nothing; if the server only gets to it
  // after the grace (its pool or its event loop busy), the request must stay with the worker. A heartbeat that
  // arrives after the grace and still leaves the request out does give it back.
  const claimGraceS = 0.3;
  const graceServer = await startTestServer({ claimGraceS });
  try {
    const worker = await graceServer.registerWorker();
    const arrivedAtMs = performance.now();
    const request = await graceServer.createWorkRequest();
    expect((await worker.claimOk({ max: 1 })).map((item) => item.id)).toEqual([request.id]);
    await sleep(claimGraceS * 1000 + 300);
    const policy = schedulingPolicyOf(compileServerConfig({ databaseUrl: graceServer.server.databaseUrl }));
    // Processed now, arrived before the claim: the request is not forgotten, it was never listed yet.
    const late = await recordHeartbeat(graceServer.server.orm.em.fork(), worker.id, { running: [] }, { claimGraceS, policy, receivedAtMs: arrivedAtMs });
    expect(late).toEqual({ cancel: [], preempted: [] });
    expect((await graceServer.sql<{ status: string }>('select status from work_request where id = $1', [request.id]))[0].status).toBe('running');
    // The same report arriving now, past the grace: given back.
    expectStatus(await worker.heartbeat([]), 200, 'heartbeat past the grace');
    expect((await graceServer.sql<{ status: string }>('select status from work_request where id = $1', [request.id]))[0].status).toBe('pending');
  } finally {
    await graceServer.close();
  }
});
