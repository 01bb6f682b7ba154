/**
 * Schedules with a workflow template: each firing creates a workflow (id from schedule name and fire time)
 * with its tasks in the firing's transaction; last_firing shows the workflow and its status; overlap: skip
 * waits while that workflow is PENDING or RUNNING.
 */
import type { CreateScheduleRequest, Schedule } from '../../protocol/schedules';
import type { WorkflowWithTasks } from '../../protocol/workflow';
import { expectStatus, startTestServer, taskSpec, type TestServer } from '../helpers/server';
import { pollUntil } from '../helpers/waitFor';

jest.setTimeout(60_000);

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

let counter = 0;
const scheduleName = (prefix: string) => `${prefix}-${process.pid}-${++counter}`;

const template = {
  user_metadata: { from: 'schedule' },
  tasks: [
    { ...taskSpec(), task_name: 'fetch' },
    { ...taskSpec(), task_name: 'report', depends_on: ['fetch'] },
  ],
};

const post = (body: CreateScheduleRequest) => server.request<Schedule>('POST', '/api/v1/schedules', { token: server.clientToken, body });
const get = async (name: string) => expectStatus(await server.request<Schedule>('GET', `/api/v1/schedules/${name}`, { token: server.clientToken }), 200, `GET ${name}`).body;
const getWorkflow = async (id: string) =>
  expectStatus(await server.request<WorkflowWithTasks>('GET', `/api/v1/workflows/${id}?tasks=true`, { token: server.clientToken }), 200, `GET workflow ${id}`).body;

test('triggering a workflow schedule creates a workflow with its tasks, shown in last_firing', async () => {
  const name = scheduleName('wf');
  const created = expectStatus(await post({ name, trigger: { every: '1h' }, workflow: template }), 201, 'create').body;
  expect(created).toMatchObject({ name, spec: null, workflow: { tasks: [{ task_name: 'fetch' }, { task_name: 'report', depends_on: ['fetch'] }] } });

  const fired = expectStatus(await server.request<{ firings: Array<{ fire_time: string; workflow_id: string | null; work_request_id: number | null }> }>('POST', `/api/v1/schedules/${name}/trigger`, { token: server.clientToken }), 201, 'trigger').body;
  expect(fired.firings).toHaveLength(1);
  const [firing] = fired.firings;
  expect(firing.work_request_id).toBeNull();
  expect(firing.workflow_id).toBe(`${name}:${new Date(firing.fire_time).getTime()}`);

  const workflow = await getWorkflow(firing.workflow_id!);
  expect(workflow).toMatchObject({ workflow_id: firing.workflow_id, status: 'RUNNING', user_metadata: { from: 'schedule' } });
  expect(workflow.tasks.map((task) => [task.task_id, task.status, task.depends_on])).toEqual([
    ['fetch', 'pending', []],
    ['report', 'blocked', ['fetch']],
  ]);
  expect((await get(name)).last_firing).toMatchObject({ workflow_id: firing.workflow_id, work_request_id: null, status: 'RUNNING', reason: 'manual' });

  // A second trigger is another firing with its own workflow.
  const again = expectStatus(await server.request<{ firings: Array<{ workflow_id: string }> }>('POST', `/api/v1/schedules/${name}/trigger`, { token: server.clientToken }), 201, 'trigger').body;
  expect(again.firings[0].workflow_id).not.toBe(firing.workflow_id);
  expect((await getWorkflow(again.firings[0].workflow_id)).tasks).toHaveLength(2);
});

test('an every trigger creates a workflow per firing, and overlap: skip waits while the last one runs', async () => {
  const name = scheduleName('wf-every');
  expectStatus(await post({ name, trigger: { every: '1s' }, workflow: template }), 201, 'create');
  const first = await pollUntil(async () => {
    const current = await get(name);
    return current.last_firing?.workflow_id ? current : null;
  }, { timeoutMs: 20_000, description: 'a scheduled firing' });
  expect(first.last_firing).toMatchObject({ reason: 'scheduled', status: 'RUNNING' });
  expect((await getWorkflow(first.last_firing!.workflow_id!)).tasks.map((task) => task.task_id)).toEqual(['fetch', 'report']);

  // Nothing runs the tasks, so the workflow stays RUNNING: later fire times are skipped, not fired.
  await pollUntil(async () => ((await get(name)).skipped_count >= 2 ? true : null), { timeoutMs: 20_000, description: 'skipped fire times' });
  const later = await get(name);
  expect(later.firings_count).toBe(1);
  expect(later.last_firing?.workflow_id).toBe(first.last_firing!.workflow_id);
  const rows = await server.sql<{ n: string }>(`select count(*) as n from workflow where workflow_id like $1`, [`${name}:%`]);
  expect(Number(rows[0].n)).toBe(1);
  await server.request('DELETE', `/api/v1/schedules/${name}`, { token: server.clientToken });
});
