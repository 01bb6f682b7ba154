/**
 * History retention: per key, the newest `historyRetentionRuns` runs are kept, plus the last success and the
 * last failure whatever their age (they answer "did this ever succeed?" and "how did it last fail?"). The
 * per-key counters keep counting every run.
 */
import type { TaskSpecInput } from '../../protocol/taskSpec';
import type { WorkRequest } from '../../protocol/workRequest';
import type { CompleteWorkRequest } from '../../protocol/workerApi';
import { MiB, TestServer, expectStatus, uniqueTaskName, type SimWorker, startTestServer } from '../helpers/server';


async function runAttempt(s: TestServer, worker: SimWorker, spec: Partial<TaskSpecInput>, completion: CompleteWorkRequest): Promise<WorkRequest> {
  const created = await s.createWorkRequest(spec);
  const claimed = await worker.claimOk({ max: 5 });
  expect(claimed.map((item) => item.id)).toEqual([created.id]);
  return expectStatus(await worker.complete(created.id, completion), 200, `complete #${created.id}`).body;
}

const SUCCESS: CompleteWorkRequest = { result: 'success', output_data: { runtime_statistics: { memory: 100 * MiB, duration: 1 } } };
const FAILURE: CompleteWorkRequest = { result: 'failure', output_data: { errors: [{ code: 'exit_code', message: 'exited with code 1' }] } };

/** Runs `results` in order on one key (max_attempts 1: every failure is final, so no retries interleave). */
async function recordRuns(s: TestServer, worker: SimWorker, taskName: string, results: Array<'success' | 'failure'>): Promise<number[]> {
  const ids: number[] = [];
  for (const result of results) {
    const row = await runAttempt(s, worker, { task_name: taskName, subject: 'subj', max_attempts: 1 }, result === 'success' ? SUCCESS : FAILURE);
    expect(row.result).toBe(result);
    ids.push(row.id);
  }
  return ids;
}

async function historyOf(s: TestServer, taskName: string): Promise<Array<{ work_request_id: number; result: string }>> {
  const rows = await s.sql<{ work_request_id: string; result: string }>(
    `select work_request_id, result from task_history where task_name = $1 order by completed_at, id`,
    [taskName],
  );
  return rows.map((row) => ({ work_request_id: Number(row.work_request_id), result: row.result }));
}

async function countersOf(s: TestServer, taskName: string) {
  await s.runHousekeeping(); // folds the counted runs into task_key
  return (await s.sql<{ runs: number; successes: number; failures: number }>(`select runs, successes, failures from task_key where task_name = $1`, [taskName]))[0];
}

let server: TestServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

test('keeps the newest 3 runs plus the old only success; counters still count all 8; the old success still allows a retry', async () => {
  server = await startTestServer({ historyRetentionRuns: 3, retryBaseDelayS: 0.2, retryMaxDelayS: 1 });
  const s = server;
  const worker = await s.registerWorker();
  const onlySuccessFirst = uniqueTaskName('retained');
  const ids = await recordRuns(s, worker, onlySuccessFirst, ['success', 'failure', 'failure', 'failure', 'failure', 'failure', 'failure', 'failure']);
  // The mirror case: the only failure is the oldest run.
  const onlyFailureFirst = uniqueTaskName('retained');
  const mirrorIds = await recordRuns(s, worker, onlyFailureFirst, ['failure', 'success', 'success', 'success', 'success', 'success']);
  // Under the limit: nothing to prune.
  const few = uniqueTaskName('few');
  const fewIds = await recordRuns(s, worker, few, ['failure', 'success', 'failure']);

  expect((await historyOf(s, onlySuccessFirst)).length).toBe(8);
  const before = Number((await s.sql<{ n: string }>(`select count(*) as n from task_history`))[0].n);
  expect(before).toBe(8 + 6 + 3);

  const deleted = await s.server.housekeeping.pruneHistoryOnce();
  // Key 1: 8 − (3 newest + the success) = 4. Key 2: 6 − (3 newest + the failure) = 2. Key 3: 0.
  expect(deleted).toBe(6);

  expect(await historyOf(s, onlySuccessFirst)).toEqual([
    { work_request_id: ids[0], result: 'success' },
    { work_request_id: ids[5], result: 'failure' },
    { work_request_id: ids[6], result: 'failure' },
    { work_request_id: ids[7], result: 'failure' }, // the last failure is the newest run
  ]);
  expect(await historyOf(s, onlyFailureFirst)).toEqual([
    { work_request_id: mirrorIds[0], result: 'failure' },
    { work_request_id: mirrorIds[3], result: 'success' },
    { work_request_id: mirrorIds[4], result: 'success' },
    { work_request_id: mirrorIds[5], result: 'success' },
  ]);
  expect((await historyOf(s, few)).map((row) => row.work_request_id)).toEqual(fewIds);

  expect(await countersOf(s, onlySuccessFirst)).toEqual({ runs: 8, successes: 1, failures: 7 });
  expect(await countersOf(s, onlyFailureFirst)).toEqual({ runs: 6, successes: 5, failures: 1 });
  expect(await countersOf(s, few)).toEqual({ runs: 3, successes: 1, failures: 2 });

  // Pruning again changes nothing.
  expect(await s.server.housekeeping.pruneHistoryOnce()).toBe(0);

  // "Did this ever succeed?" is still answered: a new failure of the first key is retried, not final.
  const failed = await runAttempt(s, worker, { task_name: onlySuccessFirst, subject: 'subj', max_attempts: 2 }, FAILURE);
  expect(failed.superseded_by).not.toBeNull();
  expect(failed.state_reason).toMatch(/succeeded before/);
  expect(failed.state_reason).toContain(`#${ids[0]}`);
});
