/**
 * A per-minute budget with a real worker whose cost_per_hour makes each task cost about 1: claims pause
 * once the budget is spent (the pending tasks say why) and resume by themselves when the window has moved on.
 * Slow by nature (the shortest window is a minute), so it waits for one window only: the key's duration is
 * learned first, so that two tasks fit the first minute and the third the next; with nothing learned the first
 * tasks would reserve nothing, and which task waits for which window would depend on when housekeeping ran.
 */
import type { WorkflowTaskInput } from '../../protocol/workflow';
import type { WorkerProcess } from '../helpers/workerProcess';
import { pollUntil } from '../helpers/waitFor';
import { cleanup, RUN_TAG_ENTRY, startE2EServer, startWorker, uniqueName, waitForEnd, withProcessLogs, type E2EServer } from './support';

jest.setTimeout(180_000);

let server: E2EServer;
let worker: WorkerProcess;

beforeAll(async () => {
  server = await startE2EServer();
  worker = await startWorker(server, { concurrency: 1, env: { WORKSCHED_COST_PER_HOUR: '1800' } });
});

afterAll(async () => {
  await cleanup(server);
});

const [tagName, tagValue] = RUN_TAG_ENTRY.split('=');
/** Two seconds of sleep: about 1 on this worker (1800/h); the counts below hold for any measured duration from 1.74 to 2.6 s. */
const twoSeconds = (taskId: string): WorkflowTaskInput => ({
  task_id: taskId,
  task_name: 'budget-e2e',
  execution: { executable: '/bin/sleep', args: ['2'], env: { [tagName]: tagValue } },
});

test('a budget of 2.6/min pauses the run once spent and resumes it by itself when the window moves on', withProcessLogs(async () => {
  expect(worker.alive).toBe(true);
  const client = server.client;
  // Outside the run: one task of the key, then the roll-up, so that each of the run's claims reserves ~1.
  const learned = await client.createWorkRequest({ task_name: 'budget-e2e', execution: twoSeconds('learn').execution });
  expect((await waitForEnd(client, learned.id)).result).toBe('success');
  await server.running.housekeeping.runOnce();
  const runId = uniqueName('budget');
  await client.createWorkflow({ workflow_id: runId, open: true, budget: '2.6/min', tasks: [0, 1, 2].map((index) => twoSeconds(`b${index}`)) });
  await client.closeWorkflow(runId);
  const paused = await pollUntil(async () => {
    const run = await client.getWorkflow(runId);
    return run.budget_reason !== null ? run : null;
  }, { timeoutMs: 60_000, description: 'the run paused by its budget' });
  expect(paused.budget_reason).toMatch(/^budget 2\.6\/min: spent \d+(\.\d+)? in the last minute, next task ~[\d.]+; frees up at /);
  // Each task costs about 1: two fit the window (1 + 1 ≤ 2.6), the third would pass it (it waits).
  expect(paused.task_counts.completed).toBeGreaterThanOrEqual(1);
  const waiting = [];
  for await (const row of client.iterateWorkRequests({ workflow: runId, status: 'pending' })) waiting.push(row);
  expect(waiting.length).toBeGreaterThan(0);
  for (const row of waiting) expect(row.state_reason).toContain(paused.budget_reason);
  // Nothing is done from here on: the server's own wake-up lets the rest run once the spend leaves the window.
  const done = await pollUntil(async () => {
    const run = await client.getWorkflow(runId);
    return run.status === 'SUCCESSFUL' ? run : null;
  }, { timeoutMs: 150_000, intervalMs: 1_000, description: 'the run to finish after the window moved on' });
  expect(done.task_counts.completed).toBe(3);
  expect(done.budget_reason).toBeNull();
  const ends = [];
  for await (const row of client.iterateWorkRequests({ workflow: runId })) ends.push(new Date(row.completed_at as string).getTime());
  ends.sort((a, b) => a - b);
  // The last task waited for the window: it ended most of a minute after the first.
  expect(ends[2] - ends[0]).toBeGreaterThan(45_000);
}));
