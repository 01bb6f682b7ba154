/**
 * Batch completion (POST /api/v1/workers/complete) and claims that carry results, over real HTTP on a real
 * database: each item is answered on its own (200, 404, 409) and idempotent, duplicates are applied once, a
 * batch from the wrong worker changes nothing, failures still get their retry decision, waiters are woken, and
 * the batch size is limited.
 */
import type { CompletionAnswer, CompletionItem } from '../../protocol/workerApi';
import type { WorkRequest } from '../../protocol/workRequest';
import { expectStatus, startTestServer, uniqueTaskName, type OrError, type SimWorker, type TestServer } from '../helpers/server';

let server: TestServer;
let tagCounter = 0;

beforeAll(async () => {
  server = await startTestServer({ retryBaseDelayS: 0.5, retryMaxDelayS: 1 });
});

afterAll(async () => {
  await server?.close();
});

/** Per-test tag, so one test's workers never claim another test's requests (the server is shared). */
function isolation() {
  tagCounter += 1;
  const tag = `batch-${tagCounter}`;
  return {
    register: (concurrency = 10) => server.registerWorker({ tags: [tag], concurrency }),
    create: (extra: Record<string, unknown> = {}) => server.createWorkRequest({ resources: { tags: [tag] }, ...extra }),
  };
}

type BatchAnswer = OrError<{ results: CompletionAnswer[] }>;

function completeBatch(worker: SimWorker, results: CompletionItem[]) {
  return worker.call<BatchAnswer>('POST', '/api/v1/workers/complete', { results });
}

async function completeBatchOk(worker: SimWorker, results: CompletionItem[]): Promise<CompletionAnswer[]> {
  return expectStatus(await completeBatch(worker, results), 200, 'batch complete').body.results;
}

async function claimIds(worker: SimWorker, max: number): Promise<number[]> {
  return (await worker.claimOk({ max })).map((request) => request.id).sort((a, b) => a - b);
}

async function historyOf(id: number) {
  return server.sql<{ result: string; duration_ms: string | null; memory: string | null; error_code: string | null }>(
    `select result, duration_ms, memory, error_code from task_history where work_request_id = $1`,
    [id],
  );
}

async function rowOf(id: number) {
  return (await server.sql<{ status: string; result: string | null; worker_id: string | null; completed_at: Date | null; state_reason: string | null }>(
    `select status, result, worker_id, completed_at, state_reason from work_request where id = $1`,
    [id],
  ))[0];
}

const NO_SUCH_ID = 9_000_000_000;

test('a mixed batch: each item answered on its own, good ones applied with their history, bad ones change nothing', async () => {
  const { register, create } = isolation();
  const worker = await register();
  const other = await register();
  const created = [await create(), await create(), await create(), await create()];
  const mine = await claimIds(worker, 4);
  expect(mine).toEqual(created.map((row) => row.id));
  const [ok, skipped, failed, another] = mine;
  const othersRequest = await create();
  expect(await claimIds(other, 1)).toEqual([othersRequest.id]);
  const stillPending = await create();

  const answers = await completeBatchOk(worker, [
    { id: ok, result: 'success', output_data: { runtime_statistics: { duration: 2, memory: 1_048_576 } } },
    { id: NO_SUCH_ID, result: 'success' },
    { id: skipped, result: 'skipped', output_data: { skip_reason: 'up to date' } },
    { id: othersRequest.id, result: 'success' },
    { id: failed, result: 'failure', output_data: { errors: [{ code: 'exit_code', message: 'exited with code 1' }] } },
    { id: stillPending.id, result: 'success' },
  ]);
  expect(answers).toEqual([
    { id: ok, status: 200 },
    { id: NO_SUCH_ID, status: 404, error: { code: 'not_found', message: expect.stringContaining(String(NO_SUCH_ID)) } },
    { id: skipped, status: 200 },
    { id: othersRequest.id, status: 409, error: { code: 'not_assigned', message: expect.any(String) } },
    { id: failed, status: 200 },
    { id: stillPending.id, status: 409, error: { code: 'not_assigned', message: expect.any(String) } },
  ]);

  expect(await rowOf(ok)).toMatchObject({ status: 'completed', result: 'success', state_reason: null });
  expect(await rowOf(skipped)).toMatchObject({ status: 'completed', result: 'skipped', state_reason: 'skipped: up to date' });
  expect(await rowOf(failed)).toMatchObject({ status: 'completed', result: 'failure' });
  expect((await rowOf(failed)).state_reason).toContain('failure: exited with code 1');
  expect(await rowOf(another)).toMatchObject({ status: 'running', result: null });
  expect(await rowOf(othersRequest.id)).toMatchObject({ status: 'running', worker_id: String(other.id) });
  expect(await rowOf(stillPending.id)).toMatchObject({ status: 'pending', worker_id: null });

  expect(await historyOf(ok)).toEqual([{ result: 'success', duration_ms: '2000', memory: '1048576', error_code: null }]);
  expect(await historyOf(skipped)).toEqual([{ result: 'skipped', duration_ms: null, memory: null, error_code: null }]);
  expect(await historyOf(failed)).toEqual([{ result: 'failure', duration_ms: null, memory: null, error_code: 'exit_code' }]);
  expect(await historyOf(another)).toEqual([]);
  expect(await historyOf(othersRequest.id)).toEqual([]);

  // What GET answers is what the per-request route would have left.
  const shown = await server.getWorkRequest(ok);
  expect(shown).toMatchObject({ status: 'completed', result: 'success', worker: { id: worker.id, name: worker.name } });
  expect(shown.output_data).toEqual({ runtime_statistics: { duration: 2, memory: 1_048_576 } });
});

test('a repeated batch is answered 200 per item and changes nothing', async () => {
  const { register, create } = isolation();
  const worker = await register();
  await create();
  await create();
  const [a, b] = await claimIds(worker, 2);
  const batch: CompletionItem[] = [
    { id: a, result: 'success' },
    { id: b, result: 'failure', output_data: { errors: [{ code: 'exit_code', message: 'exited with code 3' }] } },
  ];
  expect(await completeBatchOk(worker, batch)).toEqual([{ id: a, status: 200 }, { id: b, status: 200 }]);
  const before = [await rowOf(a), await rowOf(b)];

  expect(await completeBatchOk(worker, batch)).toEqual([{ id: a, status: 200 }, { id: b, status: 200 }]);
  // A repeat with another result is a repeat too: the first report stands.
  expect(await completeBatchOk(worker, [{ id: a, result: 'failure' }])).toEqual([{ id: a, status: 200 }]);
  expect([await rowOf(a), await rowOf(b)]).toEqual(before);
  expect(await historyOf(a)).toHaveLength(1);
  expect(await historyOf(b)).toHaveLength(1);
});

test('duplicates inside one batch: each answered, applied once (the first report)', async () => {
  const { register, create } = isolation();
  const worker = await register();
  await create();
  await create();
  const [a, b] = await claimIds(worker, 2);
  const answers = await completeBatchOk(worker, [
    { id: a, result: 'success' },
    { id: b, result: 'failure' },
    { id: a, result: 'success' },
    { id: a, result: 'failure' },
    { id: b, result: 'success' },
  ]);
  expect(answers).toEqual([a, b, a, a, b].map((id) => ({ id, status: 200 })));
  expect(await rowOf(a)).toMatchObject({ status: 'completed', result: 'success' });
  expect(await rowOf(b)).toMatchObject({ status: 'completed', result: 'failure' });
  expect((await historyOf(a)).map((row) => row.result)).toEqual(['success']);
  expect((await historyOf(b)).map((row) => row.result)).toEqual(['failure']);
});

test('a batch from the wrong worker: 409 for every item, nothing changed', async () => {
  const { register, create } = isolation();
  const owner = await register();
  const intruder = await register();
  await create();
  await create();
  const ids = await claimIds(owner, 2);
  const before = await Promise.all(ids.map(rowOf));
  const answers = await completeBatchOk(intruder, [
    { id: ids[0], result: 'success' },
    { id: ids[1], result: 'failure' },
  ]);
  expect(answers).toEqual(ids.map((id) => ({ id, status: 409, error: { code: 'not_assigned', message: `work request ${id} is not assigned to this worker` } })));
  expect(await Promise.all(ids.map(rowOf))).toEqual(before);
  expect(before.every((row) => row.status === 'running')).toBe(true);
  for (const id of ids) expect(await historyOf(id)).toEqual([]);
  // The owner's own report still goes through afterwards.
  expect(await completeBatchOk(owner, ids.map((id) => ({ id, result: 'success' as const })))).toEqual(ids.map((id) => ({ id, status: 200 })));
});

test('successes only: applied with history; a repeat, an unknown id or another worker\'s item is answered on its own and changes nothing else', async () => {
  const { register, create } = isolation();
  const worker = await register();
  const other = await register();
  await create();
  await create();
  const [a, b] = await claimIds(worker, 2);
  const othersRequest = await create();
  expect(await claimIds(other, 1)).toEqual([othersRequest.id]);

  expect(await completeBatchOk(worker, [{ id: b, result: 'success', output_data: { runtime_statistics: { duration_ms: 1500 } } }, { id: a, result: 'skipped' }])).toEqual([
    { id: b, status: 200 },
    { id: a, status: 200 },
  ]);
  expect(await rowOf(a)).toMatchObject({ status: 'completed', result: 'skipped', state_reason: 'skipped' });
  expect(await rowOf(b)).toMatchObject({ status: 'completed', result: 'success', state_reason: null });
  expect(await historyOf(b)).toEqual([{ result: 'success', duration_ms: '1500', memory: null, error_code: null }]);
  const before = [await rowOf(a), await rowOf(b), await rowOf(othersRequest.id)];

  // Successes only, but not all running on this worker: every item gets the answer the per-request route gives.
  expect(await completeBatchOk(worker, [{ id: a, result: 'success' }, { id: NO_SUCH_ID, result: 'success' }, { id: othersRequest.id, result: 'success' }])).toEqual([
    { id: a, status: 200 },
    { id: NO_SUCH_ID, status: 404, error: { code: 'not_found', message: expect.stringContaining(String(NO_SUCH_ID)) } },
    { id: othersRequest.id, status: 409, error: { code: 'not_assigned', message: expect.any(String) } },
  ]);
  expect(await completeBatchOk(other, [{ id: a, result: 'success' }])).toEqual([
    { id: a, status: 409, error: { code: 'not_assigned', message: expect.any(String) } },
  ]);
  expect([await rowOf(a), await rowOf(b), await rowOf(othersRequest.id)]).toEqual(before);
  expect(await historyOf(a)).toHaveLength(1);
  expect(await historyOf(othersRequest.id)).toEqual([]);
});

test('a failure in a batch gets its retry decision: history that succeeded before makes a new attempt', async () => {
  const { register, create } = isolation();
  const worker = await register();
  const key = { task_name: uniqueTaskName('flaky-batch'), subject: 'x' };
  const earlier = await create(key);
  expect(await claimIds(worker, 1)).toEqual([earlier.id]);
  expect(await completeBatchOk(worker, [{ id: earlier.id, result: 'success' }])).toEqual([{ id: earlier.id, status: 200 }]);

  const first = await create({ ...key, max_attempts: 2 });
  const neighbour = await create();
  expect(await claimIds(worker, 2)).toEqual([first.id, neighbour.id]);
  const answers = await completeBatchOk(worker, [
    { id: neighbour.id, result: 'success' },
    { id: first.id, result: 'failure', output_data: { errors: [{ code: 'exit_code', message: 'exited with code 1' }] } },
  ]);
  expect(answers).toEqual([{ id: neighbour.id, status: 200 }, { id: first.id, status: 200 }]);
  const failed = await server.getWorkRequest(first.id);
  expect(failed).toMatchObject({ status: 'completed', result: 'failure' });
  expect(failed.superseded_by).not.toBeNull();
  expect(failed.state_reason).toContain(`succeeded before (work request #${earlier.id})`);
  const retry = await server.getWorkRequest(failed.superseded_by!);
  expect(retry).toMatchObject({ status: 'pending', attempt: 2, task_name: key.task_name });
  expect(await rowOf(neighbour.id)).toMatchObject({ status: 'completed', result: 'success' });
});

test('a claim carries results: they are applied first (their slots count) and answered in `results`', async () => {
  const { register, create } = isolation();
  const worker = await register(2);
  await create();
  await create();
  const running = await claimIds(worker, 2);
  const next = [await create(), await create()];
  // Both slots are taken: a claim without results gets nothing.
  expect(await claimIds(worker, 2)).toEqual([]);

  const answer = expectStatus(
    await worker.claim({ max: 2, results: [...running.map((id) => ({ id, result: 'success' as const })), { id: NO_SUCH_ID, result: 'success' }] }),
    200,
    'claim with results',
  ).body as unknown as { work_requests: Array<{ id: number }>; results: CompletionAnswer[] };
  expect(answer.results).toEqual([
    { id: running[0], status: 200 },
    { id: running[1], status: 200 },
    { id: NO_SUCH_ID, status: 404, error: { code: 'not_found', message: expect.any(String) } },
  ]);
  expect(answer.work_requests.map((request) => request.id).sort((a, b) => a - b)).toEqual(next.map((row) => row.id));
  for (const id of running) expect(await rowOf(id)).toMatchObject({ status: 'completed', result: 'success' });

  // A claim without results answers an empty list.
  const plain = expectStatus(await worker.claim({ max: 1 }), 200, 'plain claim').body as unknown as { results: CompletionAnswer[] };
  expect(plain.results).toEqual([]);
});

async function timesOf(id: number) {
  return (await server.sql<{ started_at: Date | null; completed_at: Date | null }>(`select started_at, completed_at from work_request where id = $1`, [id]))[0];
}

test('a claim carrying successes and skips of its own running requests completes them in the claim\'s own transaction', async () => {
  const { register, create } = isolation();
  const worker = await register(2);
  await create();
  await create();
  const [a, b] = await claimIds(worker, 2);
  const next = [await create(), await create()];

  const answer = expectStatus(
    await worker.claim({ max: 2, results: [{ id: b, result: 'success', output_data: { runtime_statistics: { duration_ms: 2500, memory: 1048576 } } }, { id: a, result: 'skipped' }] }),
    200,
    'claim with results',
  ).body as unknown as { work_requests: Array<{ id: number }>; results: CompletionAnswer[] };
  expect(answer.results).toEqual([{ id: b, status: 200 }, { id: a, status: 200 }]);
  // The slots they freed are claimed by the same call.
  expect(answer.work_requests.map((request) => request.id).sort((x, y) => x - y)).toEqual(next.map((row) => row.id));
  expect(await rowOf(a)).toMatchObject({ status: 'completed', result: 'skipped', state_reason: 'skipped' });
  expect(await rowOf(b)).toMatchObject({ status: 'completed', result: 'success', state_reason: null });
  expect(await historyOf(b)).toEqual([{ result: 'success', duration_ms: '2500', memory: '1048576', error_code: null }]);
  expect(await historyOf(a)).toEqual([{ result: 'skipped', duration_ms: null, memory: null, error_code: null }]);
  // One transaction: the reports' completed_at is the claimed requests' started_at (both its now()).
  const completedAt = (await timesOf(a)).completed_at!.getTime();
  expect((await timesOf(b)).completed_at!.getTime()).toBe(completedAt);
  for (const row of next) expect((await timesOf(row.id)).started_at!.getTime()).toBe(completedAt);

  // The same reports again (a retried call): each answered 200 by the full path, nothing changed.
  const before = [await rowOf(a), await rowOf(b)];
  const again = expectStatus(await worker.claim({ max: 1, wait_s: 0, results: [{ id: b, result: 'success' }, { id: a, result: 'skipped' }] }), 200, 'repeat').body as unknown as {
    results: CompletionAnswer[];
  };
  expect(again.results).toEqual([{ id: b, status: 200 }, { id: a, status: 200 }]);
  expect([await rowOf(a), await rowOf(b)]).toEqual(before);
  expect(await historyOf(b)).toHaveLength(1);
});

test('a claim carrying its own success beside another worker\'s request: the one transaction writes nothing, each item is answered on its own', async () => {
  const { register, create } = isolation();
  const worker = await register(2);
  const other = await register(1);
  const mine = await create();
  expect(await claimIds(worker, 1)).toEqual([mine.id]);
  const others = await create();
  expect(await claimIds(other, 1)).toEqual([others.id]);
  const next = await create();

  const answer = expectStatus(await worker.claim({ max: 2, results: [{ id: mine.id, result: 'success' }, { id: others.id, result: 'success' }] }), 200, 'claim').body as unknown as {
    work_requests: Array<{ id: number }>;
    results: CompletionAnswer[];
  };
  expect(answer.results).toEqual([
    { id: mine.id, status: 200 },
    { id: others.id, status: 409, error: { code: 'not_assigned', message: expect.any(String) } },
  ]);
  expect(answer.work_requests.map((request) => request.id)).toEqual([next.id]);
  expect(await rowOf(mine.id)).toMatchObject({ status: 'completed', result: 'success' });
  expect(await rowOf(others.id)).toMatchObject({ status: 'running', result: null });
  expect(await historyOf(mine.id)).toHaveLength(1);
  expect(await historyOf(others.id)).toEqual([]);
});

test('two claims of one worker at once, each carrying its own results: all applied, the freed slots shared out, none twice', async () => {
  const { register, create } = isolation();
  const worker = await register(4);
  for (let index = 0; index < 4; index += 1) await create();
  const running = await claimIds(worker, 4);
  const next = [];
  for (let index = 0; index < 4; index += 1) next.push((await create()).id);
  type Answer = { work_requests: Array<{ id: number }>; results: CompletionAnswer[] };
  const answers = await Promise.all([
    worker.claim({ max: 2, wait_s: 0, results: running.slice(0, 2).map((id) => ({ id, result: 'success' as const })) }),
    worker.claim({ max: 2, wait_s: 0, results: running.slice(2).map((id) => ({ id, result: 'success' as const })) }),
  ]);
  const bodies = answers.map((answer) => expectStatus(answer, 200, 'concurrent claim').body as unknown as Answer);
  expect(bodies.flatMap((body) => body.results)).toEqual(running.map((id) => ({ id, status: 200 })));
  const claimed = bodies.flatMap((body) => body.work_requests.map((request) => request.id)).sort((a, b) => a - b);
  expect(claimed).toEqual(next.sort((a, b) => a - b));
  for (const id of running) expect(await historyOf(id)).toHaveLength(1);
});

test('carried results with nothing to claim are committed before the claim waits', async () => {
  const { register, create } = isolation();
  const worker = await register(1);
  const first = await create();
  expect(await claimIds(worker, 1)).toEqual([first.id]);
  const waiting = worker.claim({ max: 1, wait_s: 10, results: [{ id: first.id, result: 'success' }] });
  // Completed (and visible) while the claim still waits for work.
  const deadline = Date.now() + 5_000;
  while ((await rowOf(first.id)).status !== 'completed' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  expect(await rowOf(first.id)).toMatchObject({ status: 'completed', result: 'success' });
  const later = await create();
  const answer = expectStatus(await waiting, 200, 'long-poll').body as unknown as { work_requests: Array<{ id: number }>; results: CompletionAnswer[] };
  expect(answer.results).toEqual([{ id: first.id, status: 200 }]);
  expect(answer.work_requests.map((request) => request.id)).toEqual([later.id]);
});

test('waiters on a request are woken by its batch completion', async () => {
  const { register, create } = isolation();
  const worker = await register();
  await create();
  await create();
  const ids = await claimIds(worker, 2);
  const started = Date.now();
  const waits = ids.map((id) =>
    server.request<WorkRequest>('GET', `/api/v1/work-requests/${id}?wait_s=20&while_status=running`, { token: server.clientToken }),
  );
  await new Promise((resolve) => setTimeout(resolve, 300)); // let both waits subscribe
  expect(await completeBatchOk(worker, ids.map((id) => ({ id, result: 'success' as const })))).toEqual(ids.map((id) => ({ id, status: 200 })));
  const woken = await Promise.all(waits);
  for (const answer of woken) expect(expectStatus(answer, 200, 'wait').body.status).toBe('completed');
  expect(Date.now() - started).toBeLessThan(10_000);
});

test('bad batches are a 400 naming the field, and nothing is written', async () => {
  const { register, create } = isolation();
  const worker = await register();
  await create();
  const [id] = await claimIds(worker, 1);
  const tooMany = Array.from({ length: 1_001 }, () => ({ id, result: 'success' as const }));

  const oversized = await completeBatch(worker, tooMany);
  expect(oversized.status).toBe(400);
  expect(oversized.body.error?.issues).toEqual([expect.objectContaining({ path: 'results' })]);

  const empty = await completeBatch(worker, []);
  expect(empty.status).toBe(400);
  expect(empty.body.error?.issues).toEqual([expect.objectContaining({ path: 'results' })]);

  const badItem = await worker.call<BatchAnswer>('POST', '/api/v1/workers/complete', { results: [{ id, result: 'success' }, { id, result: 'maybe' }] });
  expect(badItem.status).toBe(400);
  expect(badItem.body.error?.issues).toEqual([expect.objectContaining({ path: 'results[1].result' })]);

  const claimTooMany = await worker.claim({ max: 1, results: tooMany });
  expect(claimTooMany.status).toBe(400);
  expect((claimTooMany.body as OrError<object>).error?.issues).toEqual([expect.objectContaining({ path: 'results' })]);

  expect(await rowOf(id)).toMatchObject({ status: 'running', result: null });
  expect(await historyOf(id)).toEqual([]);
});
