/**
 * Fatal or retry: after a failed attempt, history decides. A key that never succeeded fails for good; one that
 * succeeded before gets a new attempt that supersedes the failed one, after a back-off, until max_attempts.
 * An attempt killed for memory is retried with twice the memory (capped at the largest worker), one killed at
 * its time limit with twice the time. Requeues after a lost worker count as attempts.
 */
import type { TaskSpecInput } from '../../protocol/taskSpec';
import type { LogEntry, WorkRequest, WorkRequestResult } from '../../protocol/workRequest';
import type { CompleteWorkRequest } from '../../protocol/workerApi';
import { testWithCgroups } from '../helpers/capabilities';
import { GiB, MiB, TestServer, expectStatus, uniqueTaskName, type SimWorker, startTestServer } from '../helpers/server';
import { pollUntil } from '../helpers/waitFor';
import { waitUntilWorkersSilent } from '../helpers/workerSilence';
import { python3, removeWorkRoots, run } from '../worker/helpers';


/** Back-off of attempt 1: 0.5 s ± 25 %, rounded to 0.1 s → 0.4 … 0.6 s. Attempt 2: min(1, 1.0) ± 25 %, at most 1 s. */
const RETRY_CONFIG = { retryBaseDelayS: 0.5, retryMaxDelayS: 1 } as const;

async function claimedIds(worker: SimWorker): Promise<number[]> {
  return (await worker.claimOk({ max: 10 })).map((item) => item.id);
}

/** Has `worker` claim exactly `id` (failing otherwise) and report `completion`. */
async function claimAndComplete(worker: SimWorker, id: number, completion: CompleteWorkRequest): Promise<WorkRequest> {
  expect(await claimedIds(worker)).toEqual([id]);
  return expectStatus(await worker.complete(id, completion), 200, `complete #${id}`).body;
}

async function runAttempt(s: TestServer, worker: SimWorker, spec: Partial<TaskSpecInput>, completion: CompleteWorkRequest): Promise<WorkRequest> {
  const created = await s.createWorkRequest(spec);
  return claimAndComplete(worker, created.id, completion);
}

const SUCCESS: CompleteWorkRequest = { result: 'success', output_data: { runtime_statistics: { duration: 1 } } };
const EXIT_1: CompleteWorkRequest = { result: 'failure', output_data: { errors: [{ code: 'exit_code', message: 'exited with code 1' }] } };
const oom = (memory: number): CompleteWorkRequest => ({
  result: 'failure',
  output_data: { runtime_statistics: { memory, duration: 3 }, errors: [{ code: 'out_of_memory', message: 'killed by the OOM killer' }] },
});

/** Resolves once the retry's back-off has ended, by the database's clock. */
async function waitForNotBefore(s: TestServer, id: number): Promise<void> {
  await pollUntil(async () => (await s.sql<{ due: boolean }>(`select not_before <= now() as due from work_request where id = $1`, [id]))[0]?.due, {
    description: `not_before of #${id} to pass`,
    timeoutMs: 10_000,
    intervalMs: 50,
  });
}

/** The task's unfinished requests, whatever their not_before: what could still be claimed, now or later. */
async function unfinishedOf(s: TestServer, taskName: string): Promise<Array<{ id: number; status: string; not_before: Date | null }>> {
  return s.sql(`select id, status, not_before from work_request where task_name = $1 and status not in ('completed', 'aborted')`, [taskName]);
}

async function listByTask(s: TestServer, taskName: string): Promise<WorkRequest[]> {
  return expectStatus(
    await s.request<{ work_requests: WorkRequest[] }>('GET', `/api/v1/work-requests?task_name=${encodeURIComponent(taskName)}`, { token: s.clientToken }),
    200,
    'list',
  ).body.work_requests;
}

async function logsOf(s: TestServer, id: number): Promise<LogEntry[]> {
  return expectStatus(await s.request<{ entries: LogEntry[] }>('GET', `/api/v1/work-requests/${id}/logs`, { token: s.clientToken }), 200, 'logs').body.entries;
}

let server: TestServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

afterAll(() => removeWorkRoots());

describe('history decides', () => {
  test('a key that never succeeded: the failure is final, no new request', async () => {
    server = await startTestServer(RETRY_CONFIG);
    const s = server;
    const worker = await s.registerWorker();
    const key = { task_name: uniqueTaskName('never'), subject: 'x', context: 'y', max_attempts: 3 };
    const failed = await runAttempt(s, worker, key, EXIT_1);
    expect(failed).toMatchObject({ status: 'completed', result: 'failure', superseded_by: null, attempt: 1 });
    expect(failed.state_reason).toContain('no earlier successful run');
    expect(failed.state_reason).toContain(`${key.task_name}/x/y`);
    expect(failed.state_reason).toContain('exited with code 1');
    expect((await s.getWorkRequest(failed.id)).state_reason).toBe(failed.state_reason);
    expect((await listByTask(s, key.task_name)).map((row) => row.id)).toEqual([failed.id]);
    // Nothing unfinished, not even behind a back-off: nothing becomes claimable later either.
    expect(await unfinishedOf(s, key.task_name)).toEqual([]);
    expect(await claimedIds(worker)).toEqual([]);
    // The decision is in the request's log too.
    expect((await logsOf(s, failed.id)).some((entry) => entry.stream === 'system' && entry.text.includes('no earlier successful run'))).toBe(true);
  });

  test('a key with an earlier success: a new attempt supersedes the failed one after a back-off; the last allowed failure is final', async () => {
    server = await startTestServer(RETRY_CONFIG);
    const s = server;
    const worker = await s.registerWorker();
    const key = { task_name: uniqueTaskName('flaky'), subject: 'x' };
    const earlier = await runAttempt(s, worker, key, SUCCESS);

    const first = await s.createWorkRequest({ ...key, max_attempts: 2, priority: 7, user_metadata: { ticket: 42 } });
    const failed = await claimAndComplete(worker, first.id, EXIT_1);
    expect(failed).toMatchObject({ status: 'completed', result: 'failure', attempt: 1 });
    expect(failed.superseded_by).not.toBeNull();
    expect(failed.state_reason).toContain(`succeeded before (work request #${earlier.id})`);
    expect(failed.state_reason).toContain(`as #${failed.superseded_by} (attempt 2 of 2)`);
    const delayS = Number(/after ([\d.]+)s$/.exec(failed.state_reason ?? '')?.[1]);
    expect(delayS).toBeGreaterThanOrEqual(0.4);
    expect(delayS).toBeLessThanOrEqual(0.6);

    const retryId = failed.superseded_by!;
    const retry = await s.getWorkRequest(retryId);
    expect(retry).toMatchObject({
      status: 'pending',
      result: null,
      attempt: 2,
      max_attempts: 2,
      supersedes: failed.id,
      superseded_by: null,
      task_name: key.task_name,
      subject: 'x',
      priority: 7,
      user_metadata: { ticket: 42 },
      task_data: first.task_data,
    });
    expect(retry.state_reason).toContain(`retry of #${failed.id} (attempt 2 of 2)`);

    // Not claimable during the back-off …
    expect(await claimedIds(worker)).toEqual([]);
    const notBefore = (await s.sql<{ not_before: Date; completed_at: Date }>(
      `select r.not_before, f.completed_at from work_request r join work_request f on f.id = r.supersedes_id where r.id = $1`,
      [retryId],
    ))[0];
    const gapS = (new Date(notBefore.not_before).getTime() - new Date(notBefore.completed_at).getTime()) / 1000;
    expect(gapS).toBeGreaterThanOrEqual(delayS - 0.1);
    expect(gapS).toBeLessThanOrEqual(delayS + 0.5);
    // … and claimable once it is over.
    await waitForNotBefore(s, retryId);
    const lastFailure = await claimAndComplete(worker, retryId, EXIT_1);

    // Both attempts (and the earlier success) stay visible.
    expect((await listByTask(s, key.task_name)).map((row) => row.id)).toEqual([retryId, failed.id, earlier.id]);
    // Attempt 2 of 2 failed: no attempts left, final even though the key succeeded before.
    expect(lastFailure).toMatchObject({ status: 'completed', result: 'failure', attempt: 2, superseded_by: null, supersedes: failed.id });
    expect(lastFailure.state_reason).toContain('no attempts left (attempt 2 of 2)');
    // Nothing unfinished, not even behind a back-off: nothing becomes claimable later either.
    expect(await unfinishedOf(s, key.task_name)).toEqual([]);
    expect(await claimedIds(worker)).toEqual([]);
    expect((await listByTask(s, key.task_name)).length).toBe(3);
  });

  test('a new context of a subject that succeeded elsewhere keeps being retried until max_attempts', async () => {
    server = await startTestServer(RETRY_CONFIG);
    const s = server;
    const worker = await s.registerWorker();
    const taskName = uniqueTaskName('ported');
    const earlier = await runAttempt(s, worker, { task_name: taskName, subject: 'lib', context: 'amd64' }, SUCCESS);

    const first = await runAttempt(s, worker, { task_name: taskName, subject: 'lib', context: 'arm64', max_attempts: 3 }, EXIT_1);
    expect(first.state_reason).toContain(`${taskName}/lib (any context) succeeded before (work request #${earlier.id})`);
    expect(first.superseded_by).not.toBeNull();
    await waitForNotBefore(s, first.superseded_by!);
    // Attempt 2 of 3 fails the same way: the same history (amd64 succeeded, arm64 never did) must give the same
    // answer. The failed attempt 1 of this very chain is not evidence that arm64 "never succeeds".
    const second = await claimAndComplete(worker, first.superseded_by!, EXIT_1);
    expect(second.state_reason).not.toContain('no earlier successful run');
    expect(second.state_reason).toContain('succeeded before');
    expect(second.superseded_by).not.toBeNull();
    await waitForNotBefore(s, second.superseded_by!);
    const third = await claimAndComplete(worker, second.superseded_by!, EXIT_1);
    expect(third).toMatchObject({ attempt: 3, superseded_by: null });
    expect(third.state_reason).toContain('no attempts left (attempt 3 of 3)');

    // A new, independent request for arm64: arm64 now has runs of its own and none succeeded, so the most
    // specific level decides and its failure is final.
    const fresh = await runAttempt(s, worker, { task_name: taskName, subject: 'lib', context: 'arm64', max_attempts: 3 }, EXIT_1);
    expect(fresh.superseded_by).toBeNull();
    expect(fresh.state_reason).toContain(`no earlier successful run of ${taskName}/lib/arm64`);
  });

  test('use_history: false fails for good even after earlier successes', async () => {
    server = await startTestServer(RETRY_CONFIG);
    const s = server;
    const worker = await s.registerWorker();
    const key = { task_name: uniqueTaskName('opt-out') };
    await runAttempt(s, worker, key, SUCCESS);
    const failed = await runAttempt(s, worker, { ...key, use_history: false }, EXIT_1);
    expect(failed.superseded_by).toBeNull();
    expect(failed.state_reason).toContain('use_history: false');
  });
});

describe('out_of_memory and time_limit_exceeded raise the requirement', () => {
  test('OOM at X: retried with memory ≥ 2X, and again 2 × that after a second OOM; small workers cannot take it', async () => {
    server = await startTestServer(RETRY_CONFIG);
    const s = server;
    const big = await s.registerWorker({ totalMemory: 8 * GiB });
    const key = { task_name: uniqueTaskName('hungry'), max_attempts: 3 };
    // No earlier success needed: a memory kill says what would help.
    const first = await runAttempt(s, big, key, oom(300 * MiB));
    expect(first.superseded_by).not.toBeNull();
    expect(first.state_reason).toContain('out_of_memory at 300.0 MiB; retrying with memory ≥ 600.0 MiB');

    const second = await s.getWorkRequest(first.superseded_by!);
    expect(second).toMatchObject({ status: 'pending', attempt: 2, supersedes: first.id, requirements: {} });
    const memory = second.learned_requirements.find((item) => item.resource === 'memory');
    expect(memory?.value).toBe(600 * MiB); // 2 × 300 MiB = 629 145 600 B
    expect(memory?.reason).toContain('out_of_memory');
    expect(memory?.reason).toContain(`#${first.id}`);
    expect(second.learned_requirements.filter((item) => item.resource === 'memory')).toHaveLength(1);

    await waitForNotBefore(s, second.id);
    const small = await s.registerWorker({ totalMemory: 512 * MiB });
    const almost = await s.registerWorker({ totalMemory: 600 * MiB - 1 });
    expect(await claimedIds(small)).toEqual([]);
    expect(await claimedIds(almost)).toEqual([]);

    // Killed again, with a peak of 590 MiB: the requirement (600 MiB) is what doubles → 1200 MiB.
    const secondFailed = await claimAndComplete(big, second.id, oom(590 * MiB));
    const third = await s.getWorkRequest(secondFailed.superseded_by!);
    expect(third).toMatchObject({ attempt: 3, supersedes: second.id });
    expect(third.learned_requirements.find((item) => item.resource === 'memory')?.value).toBe(1200 * MiB);
    await waitForNotBefore(s, third.id);
    const oneGiB = await s.registerWorker({ totalMemory: 1 * GiB });
    expect(await claimedIds(oneGiB)).toEqual([]);
    expect(await claimedIds(big)).toEqual([third.id]);
  });

  test('the raised memory sticks: an attempt after an OOM retry that fails otherwise keeps the raised requirement', async () => {
    server = await startTestServer(RETRY_CONFIG);
    const s = server;
    const big = await s.registerWorker({ totalMemory: 8 * GiB });
    const key = { task_name: uniqueTaskName('hungry'), max_attempts: 3 };
    await runAttempt(s, big, key, { result: 'success', output_data: { runtime_statistics: { memory: 100 * MiB } } });
    // Learned from the success: 100 MiB × 1.2 = 125 829 120 B. Killed at 300 MiB → retried with 600 MiB.
    const first = await runAttempt(s, big, key, oom(300 * MiB));
    const second = await s.getWorkRequest(first.superseded_by!);
    expect(second.learned_requirements.find((item) => item.resource === 'memory')?.value).toBe(600 * MiB);
    await waitForNotBefore(s, second.id);
    // Attempt 2 fails for another reason: attempt 3 must not go back to the 120 MiB that was already too little.
    const secondFailed = await claimAndComplete(big, second.id, EXIT_1);
    const third = await s.getWorkRequest(secondFailed.superseded_by!);
    expect(third.attempt).toBe(3);
    const memory = third.learned_requirements.find((item) => item.resource === 'memory');
    expect(memory?.value).toBe(600 * MiB);
    expect(memory?.reason).toContain('out_of_memory');
    expect(third.learned_requirements.filter((item) => item.resource === 'memory')).toHaveLength(1);
    await waitForNotBefore(s, third.id);
    const small = await s.registerWorker({ totalMemory: 512 * MiB });
    expect(await claimedIds(small)).toEqual([]);
  });

  test('the doubled memory is capped at the largest enabled worker; an OOM at or above it is final', async () => {
    server = await startTestServer(RETRY_CONFIG);
    const s = server;
    const largest = await s.registerWorker({ totalMemory: 1 * GiB });
    await s.registerWorker({ totalMemory: 512 * MiB });
    const key = { task_name: uniqueTaskName('hungry'), max_attempts: 5 };

    // 2 × 700 MiB = 1400 MiB > 1 GiB: capped at 1 GiB.
    const first = await runAttempt(s, largest, key, oom(700 * MiB));
    expect(first.state_reason).toContain("capped at the largest worker's 1.0 GiB");
    const second = await s.getWorkRequest(first.superseded_by!);
    expect(second.learned_requirements.find((item) => item.resource === 'memory')?.value).toBe(1 * GiB);
    await waitForNotBefore(s, second.id);

    // Killed again at 1 GiB: nobody has more, so retrying cannot help.
    const secondFailed = await claimAndComplete(largest, second.id, oom(1 * GiB));
    expect(secondFailed.superseded_by).toBeNull();
    expect(secondFailed.state_reason).toContain('no worker has more memory (largest: 1.0 GiB)');

    // Already at or above the largest worker on the first attempt: final at once.
    const direct = await runAttempt(s, largest, { task_name: uniqueTaskName('hungry'), max_attempts: 5 }, oom(2 * GiB));
    expect(direct.superseded_by).toBeNull();
    expect(direct.state_reason).toContain('out_of_memory at 2.0 GiB, and no worker has more memory (largest: 1.0 GiB)');
  });

  test('time_limit_exceeded: retried with the time limit doubled, and the worker is handed the new limit', async () => {
    server = await startTestServer(RETRY_CONFIG);
    const s = server;
    const worker = await s.registerWorker();
    const created = await s.createWorkRequest({ task_name: uniqueTaskName('slow'), time_limit: '10s', max_attempts: 3 });
    expect(created.time_limit_s).toBe(10);
    const failed = await claimAndComplete(worker, created.id, {
      result: 'failure',
      output_data: { runtime_statistics: { duration: 10 }, errors: [{ code: 'time_limit_exceeded', message: 'killed after 10 s' }] },
    });
    expect(failed.state_reason).toContain('killed at its time limit of 10s; retrying with 20s');
    const retry = await s.getWorkRequest(failed.superseded_by!);
    expect(retry).toMatchObject({ attempt: 2, supersedes: created.id, time_limit_s: 20, status: 'pending' });
    await waitForNotBefore(s, retry.id);
    const claimed = await worker.claimOk();
    expect(claimed.map((item) => [item.id, item.time_limit_s, item.attempt])).toEqual([[retry.id, 20, 2]]);
  });
});

describe('lost workers', () => {
  test('a requeue after a lost worker is an attempt: attempt increments, history has a worker_lost error, and it uses up max_attempts', async () => {
    server = await startTestServer({ ...RETRY_CONFIG, heartbeatTimeoutS: 1 });
    const s = server;
    const lost = await s.registerWorker();
    const key = { task_name: uniqueTaskName('fragile'), subject: 'k', max_attempts: 2 };
    await runAttempt(s, lost, key, SUCCESS); // an earlier success: history alone would allow retries

    const created = await s.createWorkRequest(key);
    expect(await claimedIds(lost)).toEqual([created.id]);
    await waitUntilWorkersSilent(s.db.url, 1.2, lost.id);
    await s.runHousekeeping();

    const requeued = await s.getWorkRequest(created.id);
    expect(requeued).toMatchObject({ status: 'pending', attempt: 2, worker: null });
    const history = await s.sql<{ attempt: number; result: string; error_code: string | null; worker_name: string | null }>(
      `select attempt, result, error_code, worker_name from task_history where work_request_id = $1 order by id`,
      [created.id],
    );
    expect(history).toEqual([{ attempt: 1, result: 'error', error_code: 'worker_lost', worker_name: lost.name }]);
    await s.runHousekeeping(); // folds the counted runs into task_key
    expect((await s.sql<{ runs: number; failures: number }>(`select runs, failures from task_key where task_name = $1`, [key.task_name]))[0]).toEqual({
      runs: 2,
      failures: 1,
    });

    // Attempt 2 (of 2) fails: no attempts left, though the key succeeded before.
    const other = await s.registerWorker();
    const failed = await claimAndComplete(other, created.id, EXIT_1);
    expect(failed).toMatchObject({ attempt: 2, result: 'failure', superseded_by: null });
    expect(failed.state_reason).toContain('no attempts left (attempt 2 of 2)');
  });
});

describe('end to end: a real OOM kill', () => {
  // Without task cgroups no memory limit can be set.
  testWithCgroups('a task over its cgroup memory limit ends with out_of_memory, and the retry asks for twice its peak', async () => {
    server = await startTestServer(RETRY_CONFIG);
    const s = server;
    const worker = await s.registerWorker({ totalMemory: 8 * GiB });
    const created = await s.createWorkRequest({
      task_name: uniqueTaskName('real-oom'),
      execution: { executable: python3(), args: ['-c', 'b = bytearray(200 * 1024 * 1024)'] },
      max_attempts: 2,
    });
    const [claimed] = await worker.claimOk();
    expect(claimed.id).toBe(created.id);

    const { outcome } = await run(claimed, { memoryLimitBytes: 64 * MiB });
    expect(outcome.result).toBe('failure');
    expect(outcome.output_data.errors?.[0]?.code).toBe('out_of_memory');
    const peak = outcome.output_data.runtime_statistics?.memory ?? 0;
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(64 * MiB + 1 * MiB); // the cgroup held it at the limit

    const failed = expectStatus(
      await worker.complete(created.id, { result: outcome.result as WorkRequestResult, output_data: outcome.output_data }),
      200,
      'complete',
    ).body;
    const retry = await s.getWorkRequest(failed.superseded_by!);
    expect(retry.learned_requirements.find((item) => item.resource === 'memory')?.value).toBe(2 * peak);
    expect(retry.learned_requirements.find((item) => item.resource === 'memory')?.reason).toContain('out_of_memory');
  });
});
