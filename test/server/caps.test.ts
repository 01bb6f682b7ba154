/**
 * Caps that keep one task or client from filling the database: the stored log of a request (one `system` line
 * says where it was cut), the size of a reported output_data (413 naming the field, nothing written), and the
 * per-token rate of create calls (429 with Retry-After, nothing written).
 */
import type { ErrorResponse } from '../../protocol/errors';
import type { CompletionAnswer } from '../../protocol/workerApi';
import type { LogEntry, WorkRequest } from '../../protocol/workRequest';
import { compileServerConfig } from '../../server/config';
import { expectStatus, MiB, startTestServer, taskSpec, type OrError, type TestServer } from '../helpers/server';
import { pollUntil } from '../helpers/waitFor';

const LOG_CAP = 1000;
const OUTPUT_CAP = 4096;
const RATE = 0.25;
const BURST = 3;

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ logMaxBytes: LOG_CAP, maxOutputData: OUTPUT_CAP, createRatePerS: RATE, createBurst: BURST });
});

afterAll(async () => {
  await server?.close();
});

/** A fresh client token: each test has its own rate-limit bucket. */
async function newClientToken(): Promise<string> {
  return expectStatus(await server.request<{ token: string }>('POST', '/api/v1/tokens', { token: server.adminToken, body: { role: 'client' } }), 201, 'token').body.token;
}

async function runningRequest() {
  const worker = await server.registerWorker();
  const created = await server.createWorkRequest({}, await newClientToken());
  expect((await worker.claimOk()).map((item) => item.id)).toEqual([created.id]);
  return { worker, id: created.id };
}

test('defaults: a 16 MiB log, a 2 MiB output_data (a 1 MiB result and room for errors), 1,000 create calls a second per token in bursts of 10,000; sizes take units', () => {
  const defaults = compileServerConfig({}, {});
  expect({ log: defaults.logMaxBytes, output: defaults.maxOutputData, rate: defaults.createRatePerS, burst: defaults.createBurst }).toEqual({
    log: 16 * MiB,
    output: 2 * MiB,
    rate: 1000,
    burst: 10_000,
  });
  const fromEnv = compileServerConfig({}, { WORKSCHED_LOG_MAX_BYTES: '2MiB', WORKSCHED_MAX_OUTPUT_DATA: '64KiB', WORKSCHED_CREATE_RATE: '0' });
  expect({ log: fromEnv.logMaxBytes, output: fromEnv.maxOutputData, rate: fromEnv.createRatePerS }).toEqual({ log: 2 * MiB, output: 64 * 1024, rate: 0 });
  expect(() => compileServerConfig({}, { WORKSCHED_LOG_MAX_BYTES: 'lots' })).toThrow(/not a size/);
});

test('the stored log stops at the cap with one system line saying so; later batches add nothing', async () => {
  const { worker, id } = await runningRequest();
  const ts = new Date().toISOString();
  const entries = Array.from({ length: 6 }, (_, seq) => ({ seq, ts, stream: 'stdout' as const, text: `${'x'.repeat(299)}\n` }));
  expectStatus(await worker.postLogs(id, entries), 200, 'post logs');
  expectStatus(await worker.postLogs(id, [{ seq: 6, text: 'more\n' }, { seq: 7, text: 'and more\n' }]), 200, 'post more logs');
  const logs = expectStatus(await server.request<{ entries: LogEntry[]; truncated: boolean }>('GET', `/api/v1/work-requests/${id}/logs`, { token: server.clientToken }), 200, 'logs').body;
  expect(logs.truncated).toBe(true);
  const stdout = logs.entries.filter((entry) => entry.stream === 'stdout');
  const system = logs.entries.filter((entry) => entry.stream === 'system');
  expect(stdout.map((entry) => entry.seq)).toEqual([0, 1, 2]);
  expect(stdout.reduce((sum, entry) => sum + Buffer.byteLength(entry.text), 0)).toBeLessThanOrEqual(LOG_CAP);
  expect(system).toHaveLength(1);
  expect(system[0].text).toMatch(/log truncated/);
});

test('an output_data over the cap is a 413 naming the field on complete and release, and a 413 for that item alone in a batch or a claim; nothing written for it', async () => {
  const { worker, id } = await runningRequest();
  const other = await runningRequest();
  const big = { errors: [{ code: 'exit_code', message: 'y'.repeat(OUTPUT_CAP) }] };
  const before = await server.countAll();
  for (const [what, answer] of [
    ['complete', await worker.complete(id, { result: 'failure', output_data: big })],
    ['release', await worker.release(id, { reason: 'shutting down', output_data: big })],
  ] as const) {
    const body = answer.body as Partial<ErrorResponse>;
    expect({ what, status: answer.status, code: body.error?.code, paths: body.error?.issues?.map((issue) => issue.path) }).toEqual({ what, status: 413, code: 'payload_too_large', paths: ['output_data'] });
    expect(body.error?.message).toMatch(/output_data is .* at most 4\.0 KiB/);
  }
  for (const [what, answer] of [
    ['batch', await worker.call<OrError<{ results: CompletionAnswer[] }>>('POST', '/api/v1/workers/complete', { results: [{ id: 99_999_999, result: 'success' }, { id, result: 'failure', output_data: big }] })],
    ['claim', await worker.claim({ results: [{ id, result: 'failure', output_data: big }] })],
  ] as const) {
    const results = (answer.body as { results?: CompletionAnswer[] }).results ?? [];
    expect({ what, status: answer.status, last: results[results.length - 1] }).toEqual({
      what,
      status: 200,
      last: { id, status: 413, error: { code: 'payload_too_large', message: expect.stringMatching(/results\.\d\.output_data|at most 4\.0 KiB/) } },
    });
  }
  expect(await server.countAll()).toEqual(before);
  expect((await server.getWorkRequest(id)).status).toBe('running');
  // In a batch the others are applied; under the cap it is taken as usual.
  const mixed = expectStatus(
    await other.worker.call<{ results: CompletionAnswer[] }>('POST', '/api/v1/workers/complete', { results: [{ id: other.id, result: 'success' }, { id, result: 'failure', output_data: big }] }),
    200,
    'mixed batch',
  ).body.results;
  expect(mixed.map((answer) => answer.status)).toEqual([200, 413]);
  expectStatus(await worker.complete(id, { result: 'failure', output_data: { errors: [{ code: 'exit_code', message: 'short' }] } }), 200, 'small complete');
  expect((await server.getWorkRequest(other.id)).status).toBe('completed');
});

test('create calls past the token\'s burst get 429 with Retry-After and write nothing; other tokens are not held back; the bucket refills', async () => {
  const token = await newClientToken();
  for (let call = 0; call < BURST; call += 1) {
    expectStatus(await server.request('POST', '/api/v1/work-requests', { token, body: taskSpec() }), 201, `create ${call}`);
  }
  const before = await server.countAll();
  const refused = [
    await server.request<Partial<ErrorResponse>>('POST', '/api/v1/work-requests', { token, body: taskSpec() }),
    await server.request<Partial<ErrorResponse>>('POST', '/api/v1/work-requests/batch', { token, body: { work_requests: [taskSpec(), taskSpec()] } }),
  ];
  for (const answer of refused) {
    expect({ status: answer.status, code: answer.body.error?.code }).toEqual({ status: 429, code: 'rate_limited' });
    expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(answer.body.error?.message).toMatch(/at most 0.25 a second/);
  }
  expect(await server.countAll()).toEqual(before);
  // Reads are not limited; another token has its own bucket.
  expect((await server.request('GET', '/api/v1/work-requests?limit=1', { token })).status).toBe(200);
  expectStatus(await server.request('POST', '/api/v1/work-requests', { token: await newClientToken(), body: taskSpec() }), 201, 'other token');

  const retryAfterS = Number(refused[0].headers.get('retry-after'));
  const started = Date.now();
  const created = await pollUntil(
    async () => {
      const answer = await server.request<WorkRequest>('POST', '/api/v1/work-requests', { token, body: taskSpec() });
      return answer.status === 201 ? answer.body : null;
    },
    { description: 'the bucket to refill', intervalMs: 250, timeoutMs: 10_000 },
  );
  expect(created.status).toBe('pending');
  expect(Date.now() - started).toBeLessThanOrEqual(retryAfterS * 1000 + 2000);
});
