/**
 * Seed 004's `single_file_task` over HTTP on a real server: POST /work-requests reads `required_folder` and
 * creates one request per matching file (sorted by name) in one workflow, each with its file in every
 * `filepath_parameter`; without `single_file_task` one request gets all the paths. An unreadable folder and a
 * folder over WORKSCHED_MAX_EXPANSION are 400s that write nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ErrorResponse } from '../../protocol/errors';
import type { FileExpansion, WorkflowWithTasks } from '../../protocol/workflow';
import type { WorkRequest } from '../../protocol/workRequest';
import { expectStatus, startTestServer, taskSpec, type TestServer } from '../helpers/server';

jest.setTimeout(60_000);

const MAX_EXPANSION = 6;
let server: TestServer;
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'worksched-single-file-'));
const folder = path.join(root, 'in');
const crowded = path.join(root, 'crowded');
// Written out of order: the answer must sort them.
const matching = ['e.csv', 'b.csv', 'd.csv', 'a.csv', 'c.csv'];

beforeAll(async () => {
  fs.mkdirSync(folder);
  for (const name of [...matching, 'notes.txt', 'a.csv.bak']) fs.writeFileSync(path.join(folder, name), name);
  fs.mkdirSync(crowded);
  for (let index = 0; index <= MAX_EXPANSION; index += 1) fs.writeFileSync(path.join(crowded, `f${index}.csv`), '');
  server = await startTestServer({ maxExpansion: MAX_EXPANSION });
});

afterAll(async () => {
  await server?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

const create = <T>(body: unknown) => server.request<T & Partial<ErrorResponse>>('POST', '/api/v1/work-requests', { token: server.clientToken, body });
const getRequest = async (id: number) => expectStatus(await server.request<WorkRequest>('GET', `/api/v1/work-requests/${id}`, { token: server.clientToken }), 200, `GET ${id}`).body;
const sortedPaths = [...matching].sort().map((name) => path.join(folder, name));

const spec = (overrides: Record<string, unknown> = {}) => ({
  ...taskSpec({ execution: { executable: '/bin/cat', parameters: { mode: 'fast' }, parameter_mapping: { input: '' } } }),
  required_folder: [folder],
  required_file_expression: ['\\.csv$'],
  filepath_parameter: ['input', 'copy'],
  ...overrides,
});

test('single_file_task: one request per matching file, sorted by name, in one workflow', async () => {
  const answer = expectStatus(await create<FileExpansion>(spec({ single_file_task: true })), 201, 'expand');
  const expansion = answer.body;
  expect(answer.headers.get('location')).toBe(`/api/v1/workflows/${expansion.workflow_id}`);
  expect(expansion.work_requests).toHaveLength(5);
  expect(expansion.task_counts).toMatchObject({ total: 5, pending: 5 });
  expect(expansion.status).toBe('RUNNING');

  const requests = await Promise.all(expansion.work_requests.map(getRequest));
  expect(requests.map((request) => request.task_data.execution.parameters.input)).toEqual(sortedPaths);
  for (const request of requests) {
    expect(request.workflow_id).toBe(expansion.workflow_id);
    expect(request.status).toBe('pending');
    // Every filepath_parameter gets the file; the other parameters are kept.
    expect(request.task_data.execution.parameters.copy).toBe(request.task_data.execution.parameters.input);
    expect(request.task_data.execution.parameters.mode).toBe('fast');
    expect(request.task_data).toMatchObject({ required_filepath: [request.task_data.execution.parameters.input], required_folder: [folder] });
  }

  const workflow = expectStatus(
    await server.request<WorkflowWithTasks>('GET', `/api/v1/workflows/${expansion.workflow_id}?tasks=true`, { token: server.clientToken }),
    200,
    'GET workflow',
  ).body;
  expect(workflow.tasks.map((task) => task.work_request_id)).toEqual(expansion.work_requests);
});

test('without single_file_task: one request with every matching path in the parameter', async () => {
  const created = expectStatus(await create<WorkRequest>(spec()), 201, 'create').body;
  expect(created.workflow_id).toBeNull();
  expect(created.task_data.execution.parameters.input).toEqual(sortedPaths);
  expect(created.task_data.execution.parameters.copy).toEqual(sortedPaths);
});

test.each<[string, Record<string, unknown>, string, RegExp]>([
  ['a folder that does not exist', { required_folder: [path.join(root, 'missing')] }, 'required_folder[0]', /cannot read folder .*missing.*ENOENT/],
  ['a file given as the folder', { required_folder: [path.join(folder, 'notes.txt')] }, 'required_folder[0]', /cannot read folder .*not a directory/],
  ['more files than WORKSCHED_MAX_EXPANSION', { required_folder: [crowded] }, 'required_folder', /more than 6 matching files.*WORKSCHED_MAX_EXPANSION/],
  ['no matching file', { required_file_expression: ['\\.parquet$'] }, 'required_folder', /no file whose name matches/],
  ['single_file_task without required_folder', { required_folder: undefined, required_file_expression: undefined }, 'single_file_task', /required_folder/],
  ['single_file_task without filepath_parameter', { filepath_parameter: undefined }, 'filepath_parameter', /parameter/],
])('%s is a 400 naming the field and writes nothing', async (_what, overrides, issuePath, message) => {
  const before = await server.countAll();
  const workflowsBefore = await server.sql<{ count: string }>('select count(*) from workflow');
  const answer = await create<Record<string, never>>(spec({ single_file_task: true, ...overrides }));
  expect(answer.status).toBe(400);
  expect(answer.body.error?.code).toBe('validation_failed');
  const issue = answer.body.error?.issues?.find((item) => item.path === issuePath);
  expect(issue?.message).toMatch(message);
  expect(await server.countAll()).toEqual(before);
  expect(await server.sql<{ count: string }>('select count(*) from workflow')).toEqual(workflowsBefore);
});

test('the cap also holds without single_file_task', async () => {
  const before = await server.countAll();
  const answer = await create<Record<string, never>>(spec({ required_folder: [crowded] }));
  expect(answer.status).toBe(400);
  expect(answer.body.error?.message).toMatch(/WORKSCHED_MAX_EXPANSION/);
  expect(await server.countAll()).toEqual(before);
});

test('single_file_task in a batch or a workflow task is a 400 naming the field', async () => {
  const batch = await server.request<ErrorResponse>('POST', '/api/v1/work-requests/batch', { token: server.clientToken, body: { work_requests: [taskSpec(), spec({ single_file_task: true })] } });
  expect(batch.status).toBe(400);
  expect(batch.body.error.issues?.map((issue) => issue.path)).toContain('work_requests[1].single_file_task');
  const workflow = await server.request<ErrorResponse>('POST', '/api/v1/workflows', { token: server.clientToken, body: { tasks: [spec({ single_file_task: true })] } });
  expect(workflow.status).toBe(400);
  expect(workflow.body.error.issues?.map((issue) => issue.path)).toContain('tasks[0].single_file_task');
});
