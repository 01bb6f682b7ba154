/**
 * GET /workflows/:id shows its expected end: the latest expected_end_at the estimates pass stored for its
 * unfinished tasks (with that task's eta_reason), null when none has one or once its tasks are finished.
 */
import type { WorkflowWithTasks } from '../../protocol/workflow';
import { storeEstimates } from '../helpers/estimates';
import { expectStatus, startTestServer, taskSpec, type TestServer } from '../helpers/server';

jest.setTimeout(60_000);

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

type WorkflowEta = WorkflowWithTasks & { expected_end_at: string | null; eta_reason: string | null };
const call = <T>(method: 'GET' | 'POST', path: string, body?: unknown) => server.request<T>(method, path, { token: server.clientToken, body });

test("a workflow's expected end is its unfinished tasks' latest, null once they are finished", async () => {
  const id = `eta-${process.pid}`;
  const created = expectStatus(
    await call<WorkflowWithTasks>('POST', '/api/v1/workflows', {
      workflow_id: id,
      tasks: [{ ...taskSpec(), task_name: 'first' }, { ...taskSpec(), task_name: 'second', depends_on: ['first'] }],
    }),
    201,
    'create',
  ).body;
  const [first, second] = created.tasks;
  const before = expectStatus(await call<WorkflowEta>('GET', `/api/v1/workflows/${id}`), 200, 'GET').body;
  // No worker is online, so whatever the pass wrote for "first" carries no end; "second" (blocked) has none yet.
  expect(before.expected_end_at).toBeNull();

  const soon = new Date(Date.now() + 60_000);
  const later = new Date(Date.now() + 3_600_000);
  await storeEstimates(server, [
    { id: first.work_request_id, start: new Date(), end: soon, reason: 'first: 1 min' },
    { id: second.work_request_id, start: soon, end: later, reason: 'second: after first, 59 min' },
  ]);
  const estimated = expectStatus(await call<WorkflowEta>('GET', `/api/v1/workflows/${id}?tasks=true`), 200, 'GET').body;
  expect({ end: estimated.expected_end_at, reason: estimated.eta_reason, tasks: estimated.tasks.length }).toEqual({
    end: later.toISOString(),
    reason: 'second: after first, 59 min',
    tasks: 2,
  });

  expectStatus(await call('POST', `/api/v1/workflows/${id}/cancel`), 200, 'cancel');
  const cancelled = expectStatus(await call<WorkflowEta>('GET', `/api/v1/workflows/${id}`), 200, 'GET').body;
  expect({ end: cancelled.expected_end_at, reason: cancelled.eta_reason }).toEqual({ end: null, reason: null });
});
