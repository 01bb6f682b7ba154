/**
 * Workflows over HTTP with simulated workers: dependencies released in the completion's transaction, inputs
 * on claims, skips naming the failed dependency, allow_failure, Ray's statuses and stats, resume, cancel,
 * delete, idempotent create, 400s that write nothing, queue_full.
 */
import type { OutputData } from '../../protocol/outputData';
import type { ClaimedWorkRequest } from '../../protocol/workerApi';
import type { TaskMetadata, Workflow, WorkflowOutput, WorkflowWithTasks } from '../../protocol/workflow';
import type { WorkRequestList } from '../../protocol/workRequest';
import { expectStatus, startTestServer, uniqueTaskName, type OrError, type SimWorker, type TestServer } from '../helpers/server';

let server: TestServer;
let worker: SimWorker;

beforeAll(async () => {
  server = await startTestServer();
  worker = await server.registerWorker({ concurrency: 10 });
});

afterAll(async () => {
  await server?.close();
});

let workflowCounter = 0;
const newWorkflowId = () => `wf-${process.pid}-${(workflowCounter += 1)}`;

/** A task whose task_name says its task_id, so a claimed item can be told apart. */
const task = (prefix: string, taskId: string, extra: Record<string, unknown> = {}) => ({
  task_id: taskId,
  task_name: `${prefix}.${taskId}`,
  execution: { executable: '/bin/true' },
  use_history: false,
  ...extra,
});

const diamond = (prefix: string, extra: { b?: Record<string, unknown> } = {}) => [
  task(prefix, 'a'),
  task(prefix, 'b', { depends_on: ['a'], max_attempts: 1, ...(extra.b ?? {}) }),
  task(prefix, 'c', { depends_on: ['a'] }),
  task(prefix, 'd', { depends_on: ['b', 'c'] }),
];

const create = (body: Record<string, unknown>) => server.request<OrError<WorkflowWithTasks>>('POST', '/api/v1/workflows', { token: server.clientToken, body });
const get = async (id: string) => expectStatus(await server.request<Workflow>('GET', `/api/v1/workflows/${id}`, { token: server.clientToken }), 200, 'get workflow').body;
const post = <T>(path: string, body?: unknown) => server.request<OrError<T>>('POST', path, { token: server.clientToken, body });
const taskIdOf = (item: ClaimedWorkRequest) => item.task_name.split('.').pop() as string;

/** Claims what is pending and answers each claimed task by task_id; returns the task_ids claimed, in order. */
async function runRound(answers: Record<string, { result: 'success' | 'failure' | 'error'; value?: unknown; code?: string }> = {}): Promise<{ ids: string[]; items: ClaimedWorkRequest[] }> {
  const items = await worker.claimOk({ max: 10 });
  for (const item of items) {
    const answer = answers[taskIdOf(item)] ?? { result: 'success' };
    const output_data = {
      ...(answer.value !== undefined ? { result: answer.value as OutputData['result'] } : {}),
      ...(answer.result !== 'success' ? { errors: [{ code: answer.code ?? 'exit_code', message: 'it failed' }] } : {}),
    };
    expectStatus(await worker.complete(item.id, { result: answer.result, output_data }), 200, `complete ${item.task_name}`);
  }
  return { ids: items.map(taskIdOf).sort(), items };
}

test('a diamond runs in dependency order; d gets b and c results as inputs; SUCCESSFUL with both times', async () => {
  const prefix = uniqueTaskName('diamond');
  const id = newWorkflowId();
  const created = expectStatus(await create({ workflow_id: id, tasks: diamond(prefix) }), 201, 'create');
  expect(created.body.status).toBe('RUNNING');
  expect(created.body.tasks.map((item) => [item.task_id, item.status])).toEqual([['a', 'pending'], ['b', 'blocked'], ['c', 'blocked'], ['d', 'blocked']]);
  expect(created.body.stats).toEqual({});

  expect((await runRound({ a: { result: 'success', value: { n: 1 } } })).ids).toEqual(['a']);
  expect((await get(id)).stats.end_time).toBeUndefined();
  expect((await get(id)).stats.start_time).toEqual(expect.any(String));
  const second = await runRound({ b: { result: 'success', value: 'from b' }, c: { result: 'success', value: [1, 2] } });
  expect(second.ids).toEqual(['b', 'c']);
  expect(second.items.find((item) => taskIdOf(item) === 'b')?.inputs).toEqual({ a: { n: 1 } });
  const last = await worker.claimOk({ max: 10 });
  expect(last.map(taskIdOf)).toEqual(['d']);
  expect(last[0].inputs).toEqual({ b: 'from b', c: [1, 2] });
  expect((await get(id)).status).toBe('RUNNING');
  expectStatus(await worker.complete(last[0].id, { result: 'success', output_data: { result: { done: true } } }), 200, 'complete d');

  const finished = await get(id);
  expect(finished.status).toBe('SUCCESSFUL');
  expect(finished.task_counts).toMatchObject({ total: 4, completed: 4 });
  expect(Date.parse(finished.stats.end_time as string)).toBeGreaterThanOrEqual(Date.parse(finished.stats.start_time as string));
  const output = expectStatus(await server.request<WorkflowOutput>('GET', `/api/v1/workflows/${id}/output`, { token: server.clientToken }), 200, 'output').body;
  expect(output.results).toEqual({ d: { done: true } });
  const ofB = expectStatus(await server.request<WorkflowOutput>('GET', `/api/v1/workflows/${id}/output?task_id=b`, { token: server.clientToken }), 200, 'output b').body;
  expect(ofB.result).toBe('from b');

  const listed = expectStatus(await server.request<WorkRequestList>('GET', `/api/v1/work-requests?workflow=${id}`, { token: server.clientToken }), 200, 'list').body;
  expect(listed.work_requests.map((row) => [row.workflow_id, row.task_id])).toEqual([[id, 'd'], [id, 'c'], [id, 'b'], [id, 'a']]);
  const metadata = expectStatus(await server.request<TaskMetadata>('GET', `/api/v1/workflows/${id}/metadata?task_id=d`, { token: server.clientToken }), 200, 'metadata').body;
  expect(metadata).toMatchObject({ task_id: 'd', name: `${prefix}.d`, status: 'completed', depends_on: ['b', 'c'], task_options: { max_attempts: 3, depends_on: ['b', 'c'] } });
  expect(metadata.attempts).toHaveLength(1);
  expect(metadata.stats.end_time).toEqual(expect.any(String));
  const workflowMetadata = expectStatus(await server.request<Record<string, unknown>>('GET', `/api/v1/workflows/${id}/metadata`, { token: server.clientToken }), 200, 'metadata').body;
  expect(workflowMetadata).toEqual({ workflow_id: id, status: 'SUCCESSFUL', user_metadata: {}, stats: finished.stats });
});

test('a failing b skips d naming b, c still runs, FAILED; resume re-runs only b and d with new times', async () => {
  const prefix = uniqueTaskName('fail');
  const id = newWorkflowId();
  expectStatus(await create({ workflow_id: id, tasks: diamond(prefix) }), 201, 'create');
  await runRound();
  expect((await runRound({ b: { result: 'failure' } })).ids).toEqual(['b', 'c']);
  const failed = await get(id);
  expect(failed.status).toBe('FAILED');
  expect(failed.status_reason).toContain('"b"');
  const d = expectStatus(await server.request<TaskMetadata>('GET', `/api/v1/workflows/${id}/metadata?task_id=d`, { token: server.clientToken }), 200, 'd').body;
  expect(d.work_request).toMatchObject({ status: 'completed', result: 'skipped', output_data: { skip_reason: 'dependency "b" failed (failure)' } });
  expect(await worker.claimOk({ max: 10 })).toEqual([]);

  const resumed = expectStatus(await post<Workflow>(`/api/v1/workflows/${id}/resume`), 200, 'resume').body;
  expect(resumed.status).toBe('RUNNING');
  expect(resumed.stats).toEqual({});
  expect((await runRound()).ids).toEqual(['b']);
  expect((await runRound()).ids).toEqual(['d']);
  const again = await get(id);
  expect(again.status).toBe('SUCCESSFUL');
  expect(Date.parse(again.stats.start_time as string)).toBeGreaterThan(Date.parse(failed.stats.start_time as string));
  expect(Date.parse(again.stats.end_time as string)).toBeGreaterThan(Date.parse(failed.stats.end_time as string));
  const attempts = await server.sql<{ task_id: string; n: string }>(`select task_id, count(*) as n from work_request where workflow_id = $1 group by task_id order by task_id`, [id]);
  expect(attempts.map((row) => [row.task_id, Number(row.n)])).toEqual([['a', 1], ['b', 2], ['c', 1], ['d', 2]]);
  const b = expectStatus(await server.request<TaskMetadata>('GET', `/api/v1/workflows/${id}/metadata?task_id=b`, { token: server.clientToken }), 200, 'b').body;
  expect(b.attempts.map((attempt) => attempt.result)).toEqual(['failure', 'success']);
});

test('allow_failure on b lets d run with a null input for b; SUCCESSFUL', async () => {
  const prefix = uniqueTaskName('allow');
  const id = newWorkflowId();
  expectStatus(await create({ workflow_id: id, tasks: diamond(prefix, { b: { allow_failure: true } }) }), 201, 'create');
  await runRound();
  await runRound({ b: { result: 'failure' }, c: { result: 'success', value: 3 } });
  const last = await worker.claimOk({ max: 10 });
  expect(last.map(taskIdOf)).toEqual(['d']);
  expect(last[0].inputs).toEqual({ b: null, c: 3 });
  expectStatus(await worker.complete(last[0].id), 200, 'complete d');
  expect((await get(id)).status).toBe('SUCCESSFUL');
});

test('from parameters are filled in from a dependency result; a missing path skips the task with the reason', async () => {
  const prefix = uniqueTaskName('from');
  const id = newWorkflowId();
  expectStatus(
    await create({
      workflow_id: id,
      tasks: [
        task(prefix, 'a'),
        task(prefix, 'b', { depends_on: ['a'], execution: { executable: '/bin/echo', parameters: { size: { from: 'a', path: 'out.size' }, name: 'x' } } }),
        task(prefix, 'c', { depends_on: ['a'], execution: { executable: '/bin/echo', parameters: { gone: { from: 'a', path: 'out.nothing' } } } }),
      ],
    }),
    201,
    'create',
  );
  await runRound({ a: { result: 'success', value: { out: { size: 42 } } } });
  const claimed = await worker.claimOk({ max: 10 });
  expect(claimed.map(taskIdOf)).toEqual(['b']);
  expect(claimed[0].execution.parameters).toEqual({ size: 42, name: 'x' });
  expectStatus(await worker.complete(claimed[0].id), 200, 'complete b');
  const c = expectStatus(await server.request<TaskMetadata>('GET', `/api/v1/workflows/${id}/metadata?task_id=c`, { token: server.clientToken }), 200, 'c').body;
  expect(c.work_request.result).toBe('skipped');
  expect(c.work_request.output_data?.skip_reason).toContain('out.nothing');
  expect((await get(id)).status).toBe('SUCCESSFUL');
});

test('the same POST twice creates nothing new; another definition under the id is 409 workflow_exists', async () => {
  const prefix = uniqueTaskName('idem');
  const id = newWorkflowId();
  const body = { workflow_id: id, user_metadata: { owner: 'me' }, tasks: [task(prefix, 'a'), task(prefix, 'b', { depends_on: ['a'] })] };
  const first = expectStatus(await create(body), 201, 'first');
  const before = await server.countRows('work_request');
  const second = expectStatus(await create(body), 200, 'second');
  expect(second.body.tasks).toEqual(first.body.tasks);
  expect(await server.countRows('work_request')).toBe(before);
  const other = await create({ ...body, tasks: [task(prefix, 'a')] });
  expect(other.status).toBe(409);
  expect(other.body.error?.code).toBe('workflow_exists');
  expect(await server.countRows('work_request')).toBe(before);
  await post(`/api/v1/workflows/${id}/cancel`);
  // A generated id has the form <uuid4>.<unix seconds>.
  const generated = expectStatus(await create({ tasks: [task(prefix, 'x')] }), 201, 'generated');
  expect(generated.body.workflow_id).toMatch(/^[0-9a-f-]{36}\.\d{10}$/);
  await post(`/api/v1/workflows/${generated.body.workflow_id}/cancel`);
});

test.each([
  ['a cycle', [task('cy', 'a', { depends_on: ['c'] }), task('cy', 'b', { depends_on: ['a'] }), task('cy', 'c', { depends_on: ['b'] })], /^tasks\[[0-2]\]\.depends_on$/, /dependency cycle: (\w) → \w → \w → \1/],
  ['an unknown dependency', [task('un', 'a'), task('un', 'b', { depends_on: ['a', 'zz'] })], 'tasks[1].depends_on[1]', /"b" depends on "zz"/],
  ['a task_id used twice', [task('tw', 'a'), task('tw', 'a')], 'tasks[1].task_id', /used twice/],
  ['a from that is no dependency', [task('fr', 'a'), task('fr', 'b', { execution: { executable: '/bin/echo', parameters: { p: { from: 'a' } } } })], 'tasks[1].execution.parameters.p.from', /not in its depends_on/],
])('%s is a 400 naming the task, and nothing is written', async (_label, tasks, path, message) => {
  const before = await server.countAll();
  const workflowsBefore = await server.sql(`select count(*) from workflow`);
  const answer = await create({ workflow_id: newWorkflowId(), tasks });
  expect(answer.status).toBe(400);
  expect(answer.body.error?.issues?.[0]?.path).toMatch(path);
  expect(answer.body.error?.issues?.[0]?.message).toMatch(message);
  expect(await server.countAll()).toEqual(before);
  expect(await server.sql(`select count(*) from workflow`)).toEqual(workflowsBefore);
});

test('task_id defaults to the task_name, repeated names get _1, _2', async () => {
  const name = uniqueTaskName('dup');
  const spec = { task_name: name, execution: { executable: '/bin/true' } };
  const created = expectStatus(await create({ workflow_id: newWorkflowId(), tasks: [spec, spec, { ...spec, depends_on: [`${name}_1`] }] }), 201, 'create');
  expect(created.body.tasks.map((item) => item.task_id)).toEqual([name, `${name}_1`, `${name}_2`]);
  await post(`/api/v1/workflows/${created.body.workflow_id}/cancel`);
});

test('cancel aborts every task, running ones included, CANCELED without end_time; resume refused; delete allowed then', async () => {
  const prefix = uniqueTaskName('cancel');
  const id = newWorkflowId();
  expectStatus(await create({ workflow_id: id, tasks: diamond(prefix) }), 201, 'create');
  const [a] = await worker.claimOk({ max: 10 });
  expect(a.task_name).toBe(`${prefix}.a`);
  const deleteWhileRunning = await server.request<OrError<unknown>>('DELETE', `/api/v1/workflows/${id}`, { token: server.clientToken });
  expect(deleteWhileRunning.status).toBe(409);
  expect(deleteWhileRunning.body.error?.code).toBe('workflow_active');
  const cancelled = expectStatus(await post<Workflow>(`/api/v1/workflows/${id}/cancel`), 200, 'cancel').body;
  expect(cancelled.status).toBe('CANCELED');
  expect(cancelled.stats.end_time).toBeUndefined();
  expect(cancelled.task_counts).toMatchObject({ aborted: 4 });
  // The running task's worker is told to stop it.
  expect((await worker.heartbeat([a.id])).body.cancel).toEqual([a.id]);
  const resume = await post(`/api/v1/workflows/${id}/resume`);
  expect(resume.status).toBe(409);
  expect(resume.body.error?.code).toBe('workflow_canceled');
  expect((await server.request('DELETE', `/api/v1/workflows/${id}`, { token: server.clientToken })).status).toBe(204);
  expect((await server.request('GET', `/api/v1/workflows/${id}`, { token: server.clientToken })).status).toBe(404);
  expect(await server.sql(`select id from work_request where workflow_id = $1`, [id])).toEqual([]);
});

test('a task lost with interrupt_allowed false leaves the workflow RESUMABLE; resume-all finishes it', async () => {
  const prefix = uniqueTaskName('lost');
  const id = newWorkflowId();
  expectStatus(await create({ workflow_id: id, tasks: [task(prefix, 'a', { interrupt_allowed: false }), task(prefix, 'b', { depends_on: ['a'] })] }), 201, 'create');
  const [a] = await worker.claimOk({ max: 10 });
  // The worker hands it back on shutdown: with interrupt_allowed false it is aborted (worker_shutdown).
  expectStatus(await worker.release(a.id, { reason: 'shutting down' }), 200, 'release');
  const stopped = await get(id);
  expect(stopped.status).toBe('RESUMABLE');
  expect(stopped.task_counts).toMatchObject({ aborted: 1, completed: 1 });
  const all = expectStatus(await post<{ resumed: Array<{ workflow_id: string; status: string }> }>('/api/v1/workflows/resume-all', {}), 200, 'resume-all').body;
  expect(all.resumed).toEqual([{ workflow_id: id, status: 'RUNNING' }]);
  expect((await runRound()).ids).toEqual(['a']);
  expect((await runRound()).ids).toEqual(['b']);
  expect((await get(id)).status).toBe('SUCCESSFUL');
});

test('an open workflow takes tasks (idempotent by task_id) and ends only once closed', async () => {
  const prefix = uniqueTaskName('open');
  const id = newWorkflowId();
  expectStatus(await create({ workflow_id: id, open: true, tasks: [task(prefix, 'a')] }), 201, 'create');
  await runRound();
  expect((await get(id)).status).toBe('RUNNING');
  const added = expectStatus(await post<WorkflowWithTasks>(`/api/v1/workflows/${id}/tasks`, { tasks: [task(prefix, 'b', { depends_on: ['a'] })] }), 200, 'add').body;
  // Only the request's tasks: a refill does not carry the whole run back.
  expect(added.tasks.map((item) => [item.task_id, item.status])).toEqual([['b', 'pending']]);
  expectStatus(await post(`/api/v1/workflows/${id}/tasks`, { tasks: [task(prefix, 'b', { depends_on: ['a'] })] }), 200, 'add again');
  expect((await server.sql(`select count(*)::int as n from work_request where workflow_id = $1`, [id]))[0]).toEqual({ n: 2 });
  await runRound();
  expect((await get(id)).status).toBe('RUNNING');
  const closed = expectStatus(await post<Workflow>(`/api/v1/workflows/${id}/close`), 200, 'close').body;
  expect(closed.status).toBe('SUCCESSFUL');
  const late = await post(`/api/v1/workflows/${id}/tasks`, { tasks: [task(prefix, 'c')] });
  expect(late.status).toBe(409);
  expect(late.body.error?.code).toBe('workflow_closed');
});

test('adding to a workflow of many tasks answers only the request\'s tasks; a re-sent task its attempt; unknown depends_on is a 400', async () => {
  const prefix = uniqueTaskName('refill');
  const id = newWorkflowId();
  const many = Array.from({ length: 300 }, (_, index) => task(prefix, `t${index}`, { depends_on: index === 0 ? [] : ['t0'] }));
  expectStatus(await create({ workflow_id: id, open: true, tasks: many }), 201, 'create');
  const t7 = (await server.sql<{ id: string }>(`select id from work_request where workflow_id = $1 and task_id = 't7'`, [id]))[0];
  const addTasks = (tasks: unknown[]) => post<WorkflowWithTasks>(`/api/v1/workflows/${id}/tasks`, { tasks });

  const added = expectStatus(
    await addTasks([task(prefix, 'new1', { depends_on: ['t299'] }), task(prefix, 't7', { depends_on: ['t0'] }), { task_name: `${prefix}.t5`, execution: { executable: '/bin/true' }, use_history: false }]),
    200,
    'add',
  ).body;
  // The auto-named task's id avoids the name's existing ids, found without the whole list.
  expect(added.tasks.map((item) => [item.task_id, item.status, item.depends_on])).toEqual([
    ['t7', 'blocked', ['t0']],
    ['new1', 'blocked', ['t299']],
    [`${prefix}.t5`, 'pending', []],
  ]);
  expect(added.tasks[0].work_request_id).toBe(Number(t7.id));
  expect(added.task_counts.total).toBe(302);

  const again = expectStatus(await addTasks([task(prefix, 'new1', { depends_on: ['t299'] })]), 200, 'add again').body;
  expect(again.tasks.map((item) => [item.task_id, item.work_request_id])).toEqual([['new1', added.tasks[1].work_request_id]]);
  const named = expectStatus(
    await addTasks([{ task_name: `${prefix}.t5`, execution: { executable: '/bin/true' }, use_history: false }]),
    200,
    'add the name again',
  ).body;
  expect(named.tasks.map((item) => item.task_id)).toEqual([`${prefix}.t5_1`]);

  const unknown = await addTasks([task(prefix, 'new2'), task(prefix, 'new3', { depends_on: ['t0', 'nope'] })]);
  expect(unknown.status).toBe(400);
  expect(unknown.body.error?.issues).toEqual([{ path: 'tasks[1].depends_on[1]', message: 'task "new3" depends on "nope", which is no task of this workflow' }]);
  expect((await server.sql(`select count(*)::int as n from work_request where workflow_id = $1`, [id]))[0]).toEqual({ n: 303 });
  // Its pending tasks would be claimed by the next tests' worker.
  expectStatus(await post(`/api/v1/workflows/${id}/cancel`), 200, 'cancel');
});

test('listing by a set of statuses, with cursor pagination', async () => {
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const page: { workflows: Workflow[]; next_cursor: string | null } = expectStatus(
      await server.request<{ workflows: Workflow[]; next_cursor: string | null }>('GET', `/api/v1/workflows?status=SUCCESSFUL,CANCELED&limit=2${cursor ? `&cursor=${cursor}` : ''}`, { token: server.clientToken }),
      200,
      'list',
    ).body;
    for (const workflow of page.workflows) {
      expect(['SUCCESSFUL', 'CANCELED']).toContain(workflow.status);
      seen.push(workflow.workflow_id);
    }
    cursor = page.next_cursor;
  } while (cursor);
  const expected = await server.sql<{ workflow_id: string }>(`select workflow_id from workflow where status in ('SUCCESSFUL', 'CANCELED') order by created_at desc, workflow_id desc`);
  expect(seen).toEqual(expected.map((row) => row.workflow_id));
  expect(seen.length).toBeGreaterThan(2);
});

test('a plain work request with a from parameter is a 400', async () => {
  const answer = await server.request<OrError<unknown>>('POST', '/api/v1/work-requests', {
    token: server.clientToken,
    body: { task_name: uniqueTaskName(), execution: { executable: '/bin/echo', parameters: { p: { from: 'a' } } } },
  });
  expect(answer.status).toBe(400);
  expect(answer.body.error?.issues?.[0]?.path).toBe('execution.parameters.p');
});

test('the report of a task killed by a workflow cancel is answered 200 (its run cost booked), and the worker claims again', async () => {
  const prefix = uniqueTaskName('late');
  const id = newWorkflowId();
  expectStatus(await create({ workflow_id: id, tasks: [task(prefix, 'long'), task(prefix, 'after', { depends_on: ['long'] })] }), 201, 'create');
  const [long] = await worker.claimOk({ max: 10 });
  expectStatus(await post(`/api/v1/workflows/${id}/cancel`), 200, 'cancel');
  const report = await worker.complete(long.id, { result: 'failure', output_data: { errors: [{ code: 'exit_code', message: 'killed' }] } });
  expect(report.status).toBe(200);
  expect(report.body).toMatchObject({ status: 'aborted', result: null });
  expect(await worker.claimOk({ max: 10 })).toEqual([]);
  expect((await get(id)).status).toBe('CANCELED');
});

test('max_running 2: never more than two of its tasks pending or running; the rest are handed out as slots free', async () => {
  const prefix = uniqueTaskName('slots');
  const id = newWorkflowId();
  const roots = ['r1', 'r2', 'r3', 'r4'].map((taskId) => task(prefix, taskId));
  const created = expectStatus(await create({ workflow_id: id, max_running: 2, tasks: [...roots, task(prefix, 'last', { depends_on: ['r1'] })] }), 201, 'create').body;
  expect(created.tasks.map((item) => [item.task_id, item.status])).toEqual([['r1', 'pending'], ['r2', 'pending'], ['r3', 'blocked'], ['r4', 'blocked'], ['last', 'blocked']]);
  const waiting = expectStatus(await server.request<TaskMetadata>('GET', `/api/v1/workflows/${id}/metadata?task_id=r3`, { token: server.clientToken }), 200, 'r3').body;
  expect(waiting.work_request.state_reason).toContain('max_running 2');

  const first = await worker.claimOk({ max: 10 });
  expect(first.map(taskIdOf).sort()).toEqual(['r1', 'r2']);
  expect(await worker.claimOk({ max: 10 })).toEqual([]);
  // r1 ends: one slot, taken by the oldest ready task (r3), not by its dependant that became ready since.
  expectStatus(await worker.complete(first.find((item) => taskIdOf(item) === 'r1')!.id), 200, 'complete r1');
  const second = await worker.claimOk({ max: 10 });
  expect(second.map(taskIdOf)).toEqual(['r3']);
  expect(await worker.claimOk({ max: 10 })).toEqual([]);
  const ran = ['r1', 'r2', 'r3'];
  let running = [first.find((item) => taskIdOf(item) === 'r2')!, ...second];
  while (running.length > 0) {
    for (const item of running) expectStatus(await worker.complete(item.id), 200, `complete ${item.task_name}`);
    running = await worker.claimOk({ max: 10 });
    expect(running.length).toBeLessThanOrEqual(2);
    ran.push(...running.map(taskIdOf));
  }
  expect(ran.sort()).toEqual(['last', 'r1', 'r2', 'r3', 'r4']);
  expect((await get(id)).status).toBe('SUCCESSFUL');
});

test('a manual retry of a failed task runs the FAILED workflow again: the dependant it skipped waits for it and runs', async () => {
  const prefix = uniqueTaskName('retry');
  const id = newWorkflowId();
  expectStatus(await create({ workflow_id: id, tasks: diamond(prefix) }), 201, 'create');
  await runRound();
  await runRound({ b: { result: 'failure' } });
  const failed = await get(id);
  expect(failed.status).toBe('FAILED');
  const b = expectStatus(await server.request<TaskMetadata>('GET', `/api/v1/workflows/${id}/metadata?task_id=b`, { token: server.clientToken }), 200, 'b').body;

  const retried = expectStatus(await post<{ id: number; status: string; attempt: number; supersedes: number; task_id: string }>(`/api/v1/work-requests/${b.work_request.id}/retry`), 201, 'retry b').body;
  expect(retried).toMatchObject({ status: 'pending', attempt: 2, supersedes: b.work_request.id, task_id: 'b' });
  const running = await get(id);
  expect(running.status).toBe('RUNNING');
  expect(running.stats).toEqual({});
  const d = expectStatus(await server.request<TaskMetadata>('GET', `/api/v1/workflows/${id}/metadata?task_id=d`, { token: server.clientToken }), 200, 'd').body;
  expect(d.work_request).toMatchObject({ status: 'blocked', attempt: 2 });
  expect(d.work_request.state_reason).toContain('"b" was retried');

  expect((await runRound()).ids).toEqual(['b']);
  expect((await runRound()).ids).toEqual(['d']);
  const again = await get(id);
  expect(again.status).toBe('SUCCESSFUL');
  expect(Date.parse(again.stats.end_time as string)).toBeGreaterThan(Date.parse(failed.stats.end_time as string));
  const attempts = await server.sql<{ task_id: string; n: string }>(`select task_id, count(*) as n from work_request where workflow_id = $1 group by task_id order by task_id`, [id]);
  expect(attempts.map((row) => [row.task_id, Number(row.n)])).toEqual([['a', 1], ['b', 2], ['c', 1], ['d', 2]]);
});

test('a retry of a task that fails again leaves the workflow FAILED again; a task of a CANCELED workflow is 409 workflow_canceled', async () => {
  const prefix = uniqueTaskName('retry-again');
  const id = newWorkflowId();
  expectStatus(await create({ workflow_id: id, tasks: [task(prefix, 'only', { max_attempts: 1 }), task(prefix, 'next', { depends_on: ['only'] })] }), 201, 'create');
  await runRound({ only: { result: 'failure' } });
  expect((await get(id)).status).toBe('FAILED');
  const first = expectStatus(await server.request<TaskMetadata>('GET', `/api/v1/workflows/${id}/metadata?task_id=only`, { token: server.clientToken }), 200, 'only').body;
  const retried = expectStatus(await post<{ id: number }>(`/api/v1/work-requests/${first.work_request.id}/retry`), 201, 'retry').body;
  expect((await get(id)).status).toBe('RUNNING');
  await runRound({ only: { result: 'failure' } });
  const failedAgain = await get(id);
  expect(failedAgain.status).toBe('FAILED');
  expect(failedAgain.task_counts).toMatchObject({ total: 2, completed: 2 });
  const next = expectStatus(await server.request<TaskMetadata>('GET', `/api/v1/workflows/${id}/metadata?task_id=next`, { token: server.clientToken }), 200, 'next').body;
  expect(next.work_request).toMatchObject({ result: 'skipped', attempt: 2 });

  expectStatus(await post(`/api/v1/workflows/${id}/cancel`), 200, 'cancel');
  const refused = await post(`/api/v1/work-requests/${retried.id}/retry`);
  expect(refused.status).toBe(409);
  expect((refused.body as { error: { code: string } }).error.code).toBe('workflow_canceled');
  expect((await get(id)).status).toBe('CANCELED');
});

describe('with WORKSCHED_MAX_RUNNING_WORKFLOWS=1 and WORKSCHED_MAX_PENDING_WORKFLOWS=1', () => {
  let limited: TestServer;
  beforeAll(async () => {
    limited = await startTestServer({ maxRunningWorkflows: 1, maxPendingWorkflows: 1 });
  });
  afterAll(async () => {
    await limited?.close();
  });

  test('the second workflow waits PENDING (its tasks not claimed), the third is 429 queue_full; the end of the first admits the second', async () => {
    const simWorker = await limited.registerWorker({ concurrency: 5 });
    const prefix = uniqueTaskName('queue');
    const make = (n: number) => limited.request<OrError<Workflow>>('POST', '/api/v1/workflows', { token: limited.clientToken, body: { workflow_id: `q${n}`, tasks: [task(prefix, `t${n}`)] } });
    expect((await make(1)).body.status).toBe('RUNNING');
    expect((await make(2)).body.status).toBe('PENDING');
    const full = await make(3);
    expect(full.status).toBe(429);
    expect(full.body.error?.code).toBe('queue_full');
    const claimed = await simWorker.claimOk({ max: 5 });
    expect(claimed.map((item) => item.task_name)).toEqual([`${prefix}.t1`]);
    expectStatus(await simWorker.complete(claimed[0].id), 200, 'complete');
    const second = expectStatus(await limited.request<Workflow>('GET', '/api/v1/workflows/q2', { token: limited.clientToken }), 200, 'q2').body;
    expect(second.status).toBe('RUNNING');
    expect((await simWorker.claimOk({ max: 5 })).map((item) => item.task_name)).toEqual([`${prefix}.t2`]);
  });
});
