/**
 * POST /api/v1/work-requests/:id/retry: a request that ended without success gets a new attempt by hand,
 * through the same machinery as automatic retries (supersedes/superseded_by, attempt + 1, pending at once,
 * claimable); anything else is a 409 that writes nothing.
 */
import type { WorkRequest } from '../../protocol/workRequest';
import type { CompleteWorkRequest } from '../../protocol/workerApi';
import { expectStatus, startTestServer, type OrError, type SimWorker, type TestServer } from '../helpers/server';

let server: TestServer;
let worker: SimWorker;

beforeAll(async () => {
  server = await startTestServer();
  worker = await server.registerWorker({ concurrency: 10 });
});

afterAll(async () => {
  await server?.close();
});

const EXIT_1: CompleteWorkRequest = { result: 'failure', output_data: { errors: [{ code: 'exit_code', message: 'exited with code 1' }] } };

const retry = (id: number | string) => server.request<OrError<WorkRequest>>('POST', `/api/v1/work-requests/${id}/retry`, { token: server.clientToken });

/** Creates a request, has the worker claim it and report `completion`. */
async function finished(completion: CompleteWorkRequest, spec: Parameters<TestServer['createWorkRequest']>[0] = {}): Promise<WorkRequest> {
  const created = await server.createWorkRequest(spec);
  expect((await worker.claimOk()).map((item) => item.id)).toEqual([created.id]);
  return expectStatus(await worker.complete(created.id, completion), 200, 'complete').body;
}

test('a failed request (final: it never succeeded) gets a new pending attempt that supersedes it, and a worker runs it', async () => {
  const failed = await finished(EXIT_1, { max_attempts: 3 });
  expect(failed).toMatchObject({ status: 'completed', result: 'failure', superseded_by: null });

  const answer = expectStatus(await retry(failed.id), 201, 'retry');
  const next = answer.body;
  expect(answer.headers.get('location')).toBe(`/api/v1/work-requests/${next.id}`);
  expect(next).toMatchObject({ status: 'pending', task_name: failed.task_name, attempt: 2, max_attempts: 3, supersedes: failed.id, superseded_by: null, worker: null });
  expect(next.state_reason).toMatch(new RegExp(`^retry of #${failed.id} \\(attempt 2 of 3\\).*retried by client token #\\d+ after it ended failure$`));
  expect(Date.parse(next.not_before!)).toBeLessThanOrEqual(Date.now() + 1_000);
  expect((await server.getWorkRequest(failed.id)).superseded_by).toBe(next.id);
  const log = expectStatus(await server.request<{ entries: Array<{ stream: string; text: string }> }>('GET', `/api/v1/work-requests/${failed.id}/logs`, { token: server.clientToken }), 200, 'logs');
  expect(log.body.entries.at(-1)).toMatchObject({ stream: 'system', text: expect.stringMatching(new RegExp(`^retried by client token #\\d+ as #${next.id} \\(attempt 2 of 3\\)$`)) });

  expect((await worker.claimOk()).map((item) => item.id)).toEqual([next.id]);
  expect(expectStatus(await worker.complete(next.id, { result: 'success' }), 200, 'complete retry').body).toMatchObject({ status: 'completed', result: 'success' });
});

test('aborted and skipped requests can be retried; a retry past max_attempts is the last one', async () => {
  const pending = await server.createWorkRequest();
  expectStatus(await server.request('POST', `/api/v1/work-requests/${pending.id}/cancel`, { token: server.clientToken }), 200, 'cancel');
  expect(expectStatus(await retry(pending.id), 201, 'retry aborted').body).toMatchObject({ status: 'pending', attempt: 2, supersedes: pending.id });
  await server.client(server.adminToken).cancel((await server.getWorkRequest(pending.id)).superseded_by!);

  const skipped = await finished({ result: 'skipped', output_data: { skip_reason: 'nothing to do' } });
  expect(expectStatus(await retry(skipped.id), 201, 'retry skipped').body).toMatchObject({ attempt: 2, supersedes: skipped.id });
  await server.client(server.adminToken).cancel((await server.getWorkRequest(skipped.id)).superseded_by!);

  // max_attempts 1, and the task succeeded before: history would retry it, but it has no attempts left.
  const taskName = `retry-last-${process.pid}`;
  await finished({ result: 'success' }, { task_name: taskName });
  const once = await finished(EXIT_1, { task_name: taskName, max_attempts: 1 });
  expect(once.superseded_by).toBeNull();
  const last = expectStatus(await retry(once.id), 201, 'retry past max').body;
  expect(last).toMatchObject({ attempt: 2, max_attempts: 2 });
  expect((await worker.claimOk()).map((item) => item.id)).toEqual([last.id]);
  const failedAgain = expectStatus(await worker.complete(last.id, EXIT_1), 200, 'fail again').body;
  expect(failedAgain).toMatchObject({ result: 'failure', superseded_by: null });
  expect(failedAgain.state_reason).toContain('no attempts left (attempt 2 of 2)');
});

test('pending, running, successful and already retried requests are a 409 that writes nothing; unknown 404, bad id 400', async () => {
  const pending = await server.createWorkRequest();
  const running = await server.createWorkRequest();
  const claimed = await worker.claimOk({ max: 2 });
  expect(claimed.map((item) => item.id).sort((a, b) => a - b)).toEqual([pending.id, running.id]);
  expectStatus(await worker.complete(pending.id, { result: 'success' }), 200, 'complete');
  const waiting = await server.createWorkRequest({ resources: { memory: '4096GiB' } });
  const failed = await finished(EXIT_1);
  expectStatus(await retry(failed.id), 201, 'first retry');

  const before = await server.countAll();
  const cases: Array<[number, string, RegExp]> = [
    [waiting.id, 'not_retryable', /is pending: only one that has ended without success can be retried/],
    [running.id, 'not_retryable', /is running/],
    [pending.id, 'not_retryable', /succeeded: there is nothing to retry/],
    [failed.id, 'already_retried', new RegExp(`was already retried as #\\d+: retry the newest attempt instead`)],
  ];
  for (const [id, code, message] of cases) {
    const answer = await retry(id);
    expect({ id, status: answer.status, code: answer.body.error?.code }).toEqual({ id, status: 409, code });
    expect(answer.body.error?.message).toMatch(message);
  }
  expect(await server.countAll()).toEqual(before);
  expect((await retry(99_999_999)).status).toBe(404);
  expect((await retry('abc')).body.error).toMatchObject({ code: 'bad_request', issues: [{ path: 'id' }] });
  await server.client(server.adminToken).cancel(waiting.id);
});
