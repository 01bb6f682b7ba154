/**
 * The life of a work request over real HTTP: create → claim → logs → complete, what GET answers afterwards,
 * idempotent completion, cancellation (pending and running), listing with filters and cursors, the workers
 * list, and log streaming with ?follow=true.
 */
import type { OutputData } from '../../protocol/outputData';
import type { LogEntry, WorkRequest, WorkRequestList } from '../../protocol/workRequest';
import type { Worker } from '../../protocol/workerApi';
import { expectStatus, GiB, startTestServer, uniqueTaskName, type OrError, type SimWorker, type TestServer } from '../helpers/server';

let server: TestServer;
let tagCounter = 0;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

/**
 * Requests in this file all carry a per-test tag and each test's workers have only that tag, so one test's
 * claims never pick up another test's requests (the server is shared by the whole file).
 */
function isolation(): { tag: string; register: (extra?: { concurrency?: number }) => Promise<SimWorker>; create: (extra?: Record<string, unknown>, token?: string) => Promise<WorkRequest> } {
  tagCounter += 1;
  const tag = `lifecycle-${tagCounter}`;
  return {
    tag,
    register: (extra = {}) => server.registerWorker({ tags: [tag], ...extra }),
    create: (extra = {}, token?: string) => server.createWorkRequest({ resources: { tags: [tag] }, ...extra }, token),
  };
}

async function listWorkers(): Promise<Worker[]> {
  return expectStatus(await server.request<{ workers: Worker[] }>('GET', '/api/v1/workers', { token: server.adminToken }), 200, 'list workers').body
    .workers;
}

async function list(query: string): Promise<WorkRequestList> {
  return expectStatus(await server.request<WorkRequestList>('GET', `/api/v1/work-requests?${query}`, { token: server.clientToken }), 200, `list ?${query}`)
    .body;
}

test('GET /healthz answers ok without a token', async () => {
  const answer = await server.request('GET', '/healthz');
  expect(answer.status).toBe(200);
  expect(answer.body).toEqual({ status: 'ok', database: 'ok' });
});

test('register → create → claim → logs → complete; output_data and logs come back intact; completion is idempotent', async () => {
  const { register, tag } = isolation();
  const worker = await register();
  const other = await register();

  const spec = {
    task_name: uniqueTaskName('resize'),
    subject: 'img-42',
    context: 'amd64',
    execution: { executable: '/usr/bin/convert', args: ['a.png'], parameters: { size: '10' }, env: { K: 'V' } },
    time_limit: '15m',
    resources: { memory: '1GiB', cpu: 2, tags: [tag] },
    interrupt_allowed: false,
    priority: 7,
    max_attempts: 2,
    user_metadata: { owner: 'ana', nested: { list: [1, 'two', null, true] } },
  };
  // Created with the admin token (admin ⊇ client); the client token is used for everything else.
  const created = expectStatus(await server.request<WorkRequest>('POST', '/api/v1/work-requests', { token: server.adminToken, body: spec }), 201, 'create')
    .body;
  expect(created).toMatchObject({
    task_name: spec.task_name,
    subject: 'img-42',
    context: 'amd64',
    status: 'pending',
    result: null,
    worker: null,
    attempt: 1,
    max_attempts: 2,
    priority: 7,
    time_limit_s: 900,
    interrupt_allowed: false,
    requirements: { memory: GiB, cpu: 2, tags: [tag] },
    user_metadata: spec.user_metadata,
    output_data: null,
    started_at: null,
    completed_at: null,
  });
  expect(created.task_data.execution).toEqual({ ...spec.execution, parameter_mapping: {} });

  const claimed = await worker.claimOk({ max: 5 });
  expect(claimed).toHaveLength(1);
  expect(claimed[0]).toMatchObject({
    id: created.id,
    task_name: spec.task_name,
    attempt: 1,
    time_limit_s: 900,
    interrupt_allowed: false,
    log_seq_start: 0,
    execution: { ...spec.execution, parameter_mapping: {} },
  });

  const running = await server.getWorkRequest(created.id);
  expect(running.status).toBe('running');
  expect(running.worker).toEqual({ id: worker.id, name: worker.name });
  expect(running.started_at).not.toBeNull();

  const ts = '2030-01-02T03:04:05.678Z';
  const entries: LogEntry[] = [
    { seq: 0, ts, stream: 'stdout', text: 'hello\n' },
    { seq: 1, ts, stream: 'stderr', text: 'warning: ünïcödé ✓\n' },
    { seq: 2, ts, stream: 'stdout', text: '' },
  ];
  const posted = expectStatus(await worker.call('POST', `/api/v1/work-requests/${created.id}/logs`, { entries }), 200, 'post logs');
  expect(posted.body).toEqual({ cancel: false });
  // A re-sent batch (same seqs, other text) is a no-op.
  expectStatus(await worker.postLogs(created.id, [{ seq: 1, text: 'DIFFERENT' }]), 200, 'repost logs');
  // Another worker may not post logs for it.
  const foreignLogs = await other.postLogs(created.id, [{ seq: 9, text: 'intruder' }]);
  expect(foreignLogs.status).toBe(409);
  expect(foreignLogs.body.error?.code).toBe('not_assigned');

  const logs = expectStatus(await server.request('GET', `/api/v1/work-requests/${created.id}/logs`, { token: server.clientToken }), 200, 'get logs');
  expect(logs.body).toEqual({ entries, truncated: false });
  const afterSeq = await server.request<{ entries: LogEntry[] }>('GET', `/api/v1/work-requests/${created.id}/logs?after_seq=0`, { token: server.clientToken });
  expect(afterSeq.body.entries.map((entry) => entry.seq)).toEqual([1, 2]);

  const outputData: OutputData = {
    runtime_statistics: {
      duration: 12,
      cpu_time: 7,
      disk_space: 3 * 1024 * 1024,
      memory: 512 * 1024 * 1024,
      available_disk_space: 90 * GiB,
      available_memory: 6 * GiB,
      cpu_count: 4,
    },
    errors: [{ message: 'convert exited with 3', code: 'exit_code', exit_code: 3, details: { lines: [1, 2], ok: false, none: null } }],
  };
  const completed = expectStatus(await worker.complete(created.id, { result: 'failure', output_data: outputData }), 200, 'complete');
  expect(completed.body).toMatchObject({ id: created.id, status: 'completed', result: 'failure', output_data: outputData });

  const stored = await server.getWorkRequest(created.id);
  expect(stored.status).toBe('completed');
  expect(stored.result).toBe('failure');
  expect(stored.output_data).toEqual(outputData);
  expect(stored.completed_at).not.toBeNull();
  expect(stored.worker).toEqual({ id: worker.id, name: worker.name });
  expect(Date.parse(stored.completed_at!)).toBeGreaterThanOrEqual(Date.parse(stored.started_at!));

  // A repeated report, even with another body, is answered 200 and changes nothing.
  const repeat = await worker.complete(created.id, { result: 'success', output_data: { runtime_statistics: { duration: 1 } } });
  expect(repeat.status).toBe(200);
  expect(repeat.body.result).toBe('failure');
  expect(await server.getWorkRequest(created.id)).toEqual(stored);

  // Another worker: 409 not_assigned, nothing changes.
  const foreign = await other.complete(created.id, { result: 'success' });
  expect(foreign.status).toBe(409);
  expect(foreign.body.error?.code).toBe('not_assigned');
  expect(await server.getWorkRequest(created.id)).toEqual(stored);

  // The database agrees with what GET said.
  const rows = await server.sql<{ status: string; result: string; worker_id: string; output_data: unknown }>(
    'select status, result, worker_id, output_data from work_request where id = $1',
    [created.id],
  );
  expect(rows).toEqual([{ status: 'completed', result: 'failure', worker_id: String(worker.id), output_data: outputData }]);
});

test('skipped results keep their skip_reason', async () => {
  const { register, create } = isolation();
  const worker = await register();
  const request = await create();
  expect((await worker.claimOk()).map((item) => item.id)).toEqual([request.id]);
  expectStatus(await worker.complete(request.id, { result: 'skipped', output_data: { skip_reason: 'nothing changed since last run' } }), 200, 'complete');
  const stored = await server.getWorkRequest(request.id);
  expect(stored).toMatchObject({ status: 'completed', result: 'skipped', output_data: { skip_reason: 'nothing changed since last run' } });
});

test('cancelling a pending request aborts it at once; nobody can claim it afterwards', async () => {
  const { register, create } = isolation();
  const request = await create();
  const cancelled = expectStatus(await server.request<WorkRequest>('POST', `/api/v1/work-requests/${request.id}/cancel`, { token: server.clientToken }), 200, 'cancel');
  expect(cancelled.body.status).toBe('aborted');
  expect(cancelled.body.completed_at).not.toBeNull();
  expect((await server.getWorkRequest(request.id)).status).toBe('aborted');

  const worker = await register();
  expect(await worker.claimOk({ max: 10 })).toEqual([]);
  // Cancelling again is a no-op.
  expect((await server.request('POST', `/api/v1/work-requests/${request.id}/cancel`, { token: server.clientToken })).status).toBe(200);
  expect((await server.getWorkRequest(request.id)).status).toBe('aborted');
});

test('cancelling a running request aborts it; the worker hears it from its next heartbeat and log post', async () => {
  const { register, create } = isolation();
  const worker = await register({ concurrency: 2 });
  const victim = await create();
  const survivor = await create();
  expect((await worker.claimOk({ max: 2 })).map((item) => item.id).sort((a, b) => a - b)).toEqual([victim.id, survivor.id]);

  const before = expectStatus(await worker.heartbeat([victim.id, survivor.id]), 200, 'heartbeat');
  expect(before.body.cancel).toEqual([]);
  expect(typeof before.body.heartbeat_interval_s).toBe('number');

  const cancelled = expectStatus(await server.request<WorkRequest>('POST', `/api/v1/work-requests/${victim.id}/cancel`, { token: server.clientToken }), 200, 'cancel');
  expect(cancelled.body.status).toBe('aborted');
  expect((await server.getWorkRequest(victim.id)).status).toBe('aborted');

  const after = expectStatus(await worker.heartbeat([victim.id, survivor.id]), 200, 'heartbeat');
  expect(after.body.cancel).toEqual([victim.id]);
  const logAnswer = expectStatus(await worker.postLogs(victim.id, [{ seq: 0, text: 'still going' }]), 200, 'post logs');
  expect(logAnswer.body).toEqual({ cancel: true });
  const survivorLogs = expectStatus(await worker.postLogs(survivor.id, [{ seq: 0, text: 'fine' }]), 200, 'post logs');
  expect(survivorLogs.body).toEqual({ cancel: false });

  // The killed run's report does not resurrect it.
  await worker.complete(victim.id, { result: 'failure', output_data: { errors: [{ code: 'cancelled', message: 'killed' }] } });
  expect((await server.getWorkRequest(victim.id)).status).toBe('aborted');
  expect((await server.getWorkRequest(survivor.id)).status).toBe('running');
});

test('completed requests cannot be cancelled (409)', async () => {
  const { register, create } = isolation();
  const worker = await register();
  const request = await create();
  await worker.claimOk();
  expectStatus(await worker.complete(request.id), 200, 'complete');
  const answer = await server.request('POST', `/api/v1/work-requests/${request.id}/cancel`, { token: server.clientToken });
  expect(answer.status).toBe(409);
  expect((await server.getWorkRequest(request.id)).status).toBe('completed');
});

test('unknown ids answer 404', async () => {
  const answer = await server.request<OrError<object>>('GET', '/api/v1/work-requests/999999999', { token: server.clientToken });
  expect(answer.status).toBe(404);
  expect(answer.body.error?.code).toBe('not_found');
});

test('list filters by status, task_name and worker; cursor pagination returns every request once, newest first', async () => {
  const { register, create } = isolation();
  const taskName = uniqueTaskName('listed');
  const otherName = uniqueTaskName('other');
  const ids: number[] = [];
  for (let i = 0; i < 7; i += 1) ids.push((await create({ task_name: taskName })).id);
  const otherIds = [(await create({ task_name: otherName })).id, (await create({ task_name: otherName })).id];

  const worker = await register({ concurrency: 2 });
  const claimedIds = (await worker.claimOk({ max: 2 })).map((item) => item.id).sort((a, b) => a - b);
  expect(claimedIds).toEqual(ids.slice(0, 2)); // oldest first at equal priority

  const byName = await list(`task_name=${taskName}&limit=50`);
  expect(byName.work_requests.map((item) => item.id)).toEqual([...ids].reverse());
  expect(byName.next_cursor).toBeNull();

  const runningOfName = await list(`task_name=${taskName}&status=running`);
  expect(runningOfName.work_requests.map((item) => item.id).sort((a, b) => a - b)).toEqual(claimedIds);
  const pendingOfName = await list(`task_name=${taskName}&status=pending`);
  expect(pendingOfName.work_requests.map((item) => item.id)).toEqual(ids.slice(2).reverse());
  const both = await list(`task_name=${taskName}&status=pending,running`);
  expect(both.work_requests).toHaveLength(7);
  expect((await list(`task_name=${taskName}&status=completed`)).work_requests).toEqual([]);

  for (const workerKey of [worker.name, String(worker.id)]) {
    const byWorker = await list(`worker=${encodeURIComponent(workerKey)}`);
    expect(byWorker.work_requests.map((item) => item.id).sort((a, b) => a - b)).toEqual(claimedIds);
    for (const item of byWorker.work_requests) expect(item.worker).toEqual({ id: worker.id, name: worker.name });
  }

  // Pages of 3: 3 + 3 + 1, each id once, newest first across pages.
  const seen: number[] = [];
  const pageSizes: number[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page: WorkRequestList = await list(`task_name=${taskName}&limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    pageSizes.push(page.work_requests.length);
    seen.push(...page.work_requests.map((item) => item.id));
    cursor = page.next_cursor;
    pages += 1;
    expect(pages).toBeLessThan(10);
  } while (cursor);
  expect(pageSizes).toEqual([3, 3, 1]);
  expect(seen).toEqual([...ids].reverse());
  expect(new Set(seen).size).toBe(7);
  for (const id of otherIds) expect(seen).not.toContain(id);

  // The SDK's iterator walks the same pages.
  const viaSdk: number[] = [];
  for await (const item of server.client().iterateWorkRequests({ task_name: taskName, limit: 3 })) viaSdk.push(item.id);
  expect(viaSdk).toEqual(seen);
});

test('GET /api/v1/workers shows each worker idle or busy with its running count', async () => {
  const { register, create } = isolation();
  const worker = await register({ concurrency: 3 });
  const find = async () => {
    const found = (await listWorkers()).find((item) => item.id === worker.id);
    if (!found) throw new Error(`worker ${worker.id} is not listed`);
    return found;
  };
  const idle = await find();
  expect(idle).toMatchObject({ name: worker.name, state: 'idle', running: 0, concurrency: 3 });
  expect(idle.resources).toMatchObject({ cpu_count: 4, total_memory: 8 * GiB });

  const first = await create();
  const second = await create();
  expect(await worker.claimOk({ max: 3 })).toHaveLength(2);
  expect(await find()).toMatchObject({ state: 'busy', running: 2 });

  expectStatus(await worker.complete(first.id), 200, 'complete');
  expect(await find()).toMatchObject({ state: 'busy', running: 1 });
  expectStatus(await worker.complete(second.id), 200, 'complete');
  const again = await find();
  expect(again).toMatchObject({ state: 'idle', running: 0 });
  expect(again.last_seen_at).not.toBeNull();
});

/** Reads NDJSON lines from a fetch body, one at a time, with a deadline per line. */
class NdjsonReader {
  private buffered = '';
  private readonly decoder = new TextDecoder();
  private pending: ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']> | null = null;

  constructor(private readonly reader: ReadableStreamDefaultReader<Uint8Array>) {}

  /** The next parsed line, or 'end' when the stream ended; throws after `timeoutMs`. */
  async next(timeoutMs: number): Promise<unknown> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const newline = this.buffered.indexOf('\n');
      if (newline >= 0) {
        const line = this.buffered.slice(0, newline);
        this.buffered = this.buffered.slice(newline + 1);
        if (line.trim()) return JSON.parse(line);
        continue;
      }
      this.pending ??= this.reader.read();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()));
      });
      const result = await Promise.race([this.pending, timeout]);
      clearTimeout(timer);
      if (result === 'timeout') throw new Error(`no NDJSON line within ${timeoutMs} ms (buffered: ${JSON.stringify(this.buffered)})`);
      this.pending = null;
      if (result.done) {
        if (this.buffered.trim()) throw new Error(`stream ended in the middle of a line: ${this.buffered}`);
        return 'end';
      }
      this.buffered += this.decoder.decode(result.value, { stream: true });
    }
  }
}

test('?follow=true streams new log entries while the request runs and ends when it completes', async () => {
  const { register, create } = isolation();
  const worker = await register();
  const request = await create();
  await worker.claimOk();
  expectStatus(await worker.postLogs(request.id, [{ seq: 0, text: 'first\n' }]), 200, 'post logs');

  const controller = new AbortController();
  const response = await fetch(`${server.url}/api/v1/work-requests/${request.id}/logs?follow=true`, {
    headers: { authorization: `Bearer ${server.clientToken}` },
    signal: controller.signal,
  });
  try {
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const stream = new NdjsonReader(response.body!.getReader());
    expect(await stream.next(10_000)).toMatchObject({ seq: 0, stream: 'stdout', text: 'first\n' });

    const posted = performance.now();
    expectStatus(await worker.postLogs(request.id, [{ seq: 1, stream: 'stderr', text: 'second\n' }]), 200, 'post logs');
    expect(await stream.next(10_000)).toMatchObject({ seq: 1, stream: 'stderr', text: 'second\n' });
    const latency = performance.now() - posted;
    // The request is still running: the entry came from the stream, not from the end of a finished log.
    expect((await server.getWorkRequest(request.id)).status).toBe('running');
    console.info(`follow: log entry reached the stream ${latency.toFixed(1)} ms after the post was sent`);

    expectStatus(await worker.postLogs(request.id, [{ seq: 2, text: 'third\n' }]), 200, 'post logs');
    expect(await stream.next(10_000)).toMatchObject({ seq: 2, text: 'third\n' });
    expectStatus(await worker.complete(request.id), 200, 'complete');
    expect(await stream.next(10_000)).toBe('end');
  } finally {
    controller.abort();
  }

  // Following a request that already ended sends what is stored and ends at once.
  const ended = await server.request('GET', `/api/v1/work-requests/${request.id}/logs?follow=true`, { token: server.clientToken });
  expect(ended.status).toBe(200);
  expect(ended.text.trim().split('\n').map((line) => (JSON.parse(line) as LogEntry).seq)).toEqual([0, 1, 2]);
});
