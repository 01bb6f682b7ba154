/**
 * POST /api/v1/work-requests/batch: many specs in one call, created in input order with the same learned
 * requirements and unschedulable reasons as one at a time, all or none; the bigger body limit is this route's alone.
 */
import { MAX_BATCH_CREATE, type WorkRequest } from '../../protocol/workRequest';
import type { TaskSpecInput } from '../../protocol/taskSpec';
import { GiB, MiB, expectStatus, type ApiResponse, type OrError, startTestServer, taskSpec, uniqueTaskName, type TestServer, withoutEstimates } from '../helpers/server';

const BATCH = '/api/v1/work-requests/batch';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

async function postBatch(specs: unknown[]): Promise<ApiResponse<OrError<{ work_requests: WorkRequest[] }>>> {
  return server.request('POST', BATCH, { token: server.clientToken, body: { work_requests: specs } });
}

/** A run of `key` that used `memoryMiB` at its peak, so the key has history. */
async function runOnce(key: Partial<TaskSpecInput>, memoryMiB: number): Promise<void> {
  const runner = await server.registerWorker({ totalMemory: 8 * GiB, tags: [key.task_name!] });
  const created = await server.createWorkRequest({ ...key, resources: { tags: [key.task_name!] } });
  const claimed = await runner.claimOk({ max: 5 });
  expect(claimed.map((item) => item.id)).toEqual([created.id]);
  expectStatus(await runner.complete(created.id, { result: 'success', output_data: { runtime_statistics: { memory: memoryMiB * MiB, duration: 4, cpu_time: 2 } } }), 200, 'complete');
}

test('a batch of mixed specs is created in input order, learned requirements where history exists', async () => {
  const known = { task_name: uniqueTaskName('batch.known'), subject: 'lib', context: 'amd64' };
  await runOnce(known, 300);
  const fresh = uniqueTaskName('batch.fresh');
  const specs: TaskSpecInput[] = [
    taskSpec({ task_name: fresh, priority: 3 }),
    taskSpec({ ...known }),
    taskSpec({ ...known, resources: { memory: '1GiB' } }),
    taskSpec({ task_name: known.task_name, subject: 'lib', context: 'arm64', use_history: false }),
    taskSpec({ task_name: fresh, resources: { memory: '4096GiB' }, user_metadata: { n: 5 } }),
    taskSpec({ task_name: known.task_name, subject: 'lib', context: 'arm64' }),
  ];
  const answer = expectStatus(await postBatch(specs), 201, 'batch');
  const created = answer.body.work_requests;
  expect(created.map((item) => [item.task_name, item.status, item.attempt])).toEqual(specs.map((spec) => [spec.task_name, 'pending', 1]));
  const ids = created.map((item) => item.id);
  expect([...ids].sort((a, b) => a - b)).toEqual(ids);
  expect(created[0]).toMatchObject({ priority: 3, learned_requirements: [] });

  // Each answer is what one-at-a-time creation answers for the same spec (and what GET says).
  const single = [];
  for (const spec of specs) single.push(await server.createWorkRequest(spec));
  const comparable = (item: WorkRequest) => ({ ...withoutEstimates(item), id: 0, created_at: '' });
  expect(created.map(comparable)).toEqual(single.map(comparable));
  for (const item of created) expect(withoutEstimates(await server.getWorkRequest(item.id))).toEqual(withoutEstimates(item));

  const memory = (item: WorkRequest) => item.learned_requirements.find((learned) => learned.resource === 'memory');
  // One run of 300 MiB: p95 = 300 MiB × 1.2 headroom.
  expect(memory(created[1])?.value).toBe(Math.ceil(300 * MiB * 1.2));
  expect(memory(created[2])).toBeUndefined(); // explicit memory wins
  expect(created[2].learned_requirements.map((item) => item.resource)).toEqual(['time']);
  expect(created[3].learned_requirements).toEqual([]); // use_history: false
  expect(memory(created[5])?.reason).toContain('(any context)'); // falls back to (task, subject)
  expect(created[4].state_reason).toMatch(/no enabled worker|cannot run/i);
  expect(created[4].user_metadata).toEqual({ n: 5 });
});

test('two identical specs make two requests', async () => {
  const spec = taskSpec({ task_name: uniqueTaskName('batch.twin') });
  const created = expectStatus(await postBatch([spec, spec]), 201, 'twins').body.work_requests;
  expect(created).toHaveLength(2);
  expect(created[0].id).not.toBe(created[1].id);
  expect(created[0].task_name).toBe(created[1].task_name);
});

test('a bad item at index 3 → 400 naming work_requests[3].<field>, and nothing is written', async () => {
  const before = await server.countAll();
  const specs: unknown[] = [taskSpec(), taskSpec(), taskSpec(), taskSpec({ resources: { memory: 'lots' as unknown as string } }), taskSpec()];
  const answer = await postBatch(specs);
  expect(answer.status).toBe(400);
  expect(answer.body.error?.code).toBe('validation_failed');
  // The project's issue paths write array indexes in brackets.
  expect(answer.body.error?.issues?.[0]?.path).toBe('work_requests[3].resources.memory');
  expect(answer.body.error?.message).toContain('work_requests[3].resources.memory');
  expect(await server.countAll()).toEqual(before);
});

test('an empty batch and a batch of 10,001 → 400, nothing written', async () => {
  const before = await server.countAll();
  const empty = await postBatch([]);
  expect({ status: empty.status, path: empty.body.error?.issues?.[0]?.path }).toEqual({ status: 400, path: 'work_requests' });
  const spec = taskSpec();
  const tooMany = await postBatch(Array.from({ length: MAX_BATCH_CREATE + 1 }, () => spec));
  expect({ status: tooMany.status, code: tooMany.body.error?.code, path: tooMany.body.error?.issues?.[0]?.path }).toEqual({ status: 400, code: 'validation_failed', path: 'work_requests' });
  expect(await server.countAll()).toEqual(before);
});

test('10,000 specs in one call are all created', async () => {
  const taskName = uniqueTaskName('batch.full');
  const specs = Array.from({ length: MAX_BATCH_CREATE }, (_, i) => taskSpec({ task_name: taskName, subject: `s${i % 7}`, priority: i % 5 }));
  const created = expectStatus(await postBatch(specs), 201, 'full batch').body.work_requests;
  expect(created).toHaveLength(MAX_BATCH_CREATE);
  expect(created.map((item) => item.priority)).toEqual(specs.map((spec) => spec.priority));
  const rows = await server.sql<{ n: string }>('select count(*) as n from work_request where task_name = $1', [taskName]);
  expect(Number(rows[0].n)).toBe(MAX_BATCH_CREATE);
});

test('a body over 1 MiB is accepted on the batch route and refused (413) on the single route', async () => {
  const big = taskSpec({ user_metadata: { pad: 'x'.repeat(1024 * 1024 + 10) } });
  const before = await server.countAll();
  const single = await server.request<OrError<WorkRequest>>('POST', '/api/v1/work-requests', { token: server.clientToken, body: big });
  expect({ status: single.status, code: single.body?.error?.code }).toEqual({ status: 413, code: 'payload_too_large' });
  expect(single.body.error?.message).toContain('1.0 MiB');
  expect(await server.countAll()).toEqual(before);
  const batch = expectStatus(await postBatch([big, taskSpec()]), 201, 'big batch');
  expect(batch.body.work_requests[0].user_metadata.pad).toHaveLength(1024 * 1024 + 10);
});

test('the batch route has its own limit (WORKSCHED_MAX_BATCH_BODY)', async () => {
  const small = await startTestServer({ maxBatchBody: 64 * 1024 });
  try {
    const answer = await small.request<OrError<{ work_requests: WorkRequest[] }>>('POST', BATCH, { token: small.clientToken, body: { work_requests: [taskSpec({ user_metadata: { pad: 'x'.repeat(70 * 1024) } })] } });
    expect({ status: answer.status, code: answer.body?.error?.code }).toEqual({ status: 413, code: 'payload_too_large' });
    expect(answer.body.error?.message).toContain('64.0 KiB');
  } finally {
    await small.close();
  }
});

test('the batch route is for clients', async () => {
  const worker = await server.registerWorker();
  const answer = await server.request('POST', BATCH, { token: worker.token, body: { work_requests: [taskSpec()] } });
  expect(answer.status).toBe(403);
});

test('the SDK creates a batch with createWorkRequests', async () => {
  const taskName = uniqueTaskName('batch.sdk');
  const created = await server.client().createWorkRequests([taskSpec({ task_name: taskName }), taskSpec({ task_name: taskName, priority: 2 })]);
  expect(created.map((item) => item.priority)).toEqual([0, 2]);
});
