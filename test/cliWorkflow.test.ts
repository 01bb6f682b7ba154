/**
 * `worksched workflow …` against a real server (simulated worker): submit from a file, show with its task
 * table and dependency tree, list by status, output, metadata, cancel/resume/delete, resume-all, and the
 * one-line usage errors (exit 2).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { renderDependencyTree } from '../cli/workflowTree';
import { runCli } from './helpers/cli';
import { storeEstimates } from './helpers/estimates';
import { expectStatus, startTestServer, uniqueTaskName, type TestServer } from './helpers/server';

let server: TestServer;
let scratch: string;

beforeAll(async () => {
  server = await startTestServer();
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'worksched-cli-workflow-'));
});

afterAll(async () => {
  await server?.close();
  fs.rmSync(scratch, { recursive: true, force: true });
});

const cli = (args: string[], input?: string) =>
  runCli(['workflow', ...args], { env: { WORKSCHED_URL: server.url, WORKSCHED_TOKEN: server.clientToken, WORKSCHED_DATA_DIR: path.join(scratch, 'none') }, input, cwd: scratch });

function writeWorkflow(name: string, body: unknown): string {
  const file = path.join(scratch, name);
  fs.writeFileSync(file, JSON.stringify(body));
  return file;
}

const spec = (prefix: string, taskId: string, dependsOn: string[] = []) => ({ task_id: taskId, task_name: `${prefix}.${taskId}`, execution: { executable: '/bin/true' }, depends_on: dependsOn });

test('submit, show (table and tree), output, list by status, then cancel, resume refused, delete', async () => {
  const prefix = uniqueTaskName('cliwf');
  const file = writeWorkflow('diamond.json', { tasks: [spec(prefix, 'a'), spec(prefix, 'b', ['a']), spec(prefix, 'c', ['a']), spec(prefix, 'd', ['b', 'c'])] });
  const submitted = await cli(['submit', file, '--id', `${prefix}-wf`]);
  expect(submitted).toMatchObject({ code: 0, stdout: `workflow ${prefix}-wf: RUNNING (4 tasks)\n` });
  // Submitting the same file under the same id again is answered with the existing workflow.
  expect((await cli(['submit', file, '--id', `${prefix}-wf`])).code).toBe(0);

  const worker = await server.registerWorker();
  const [a] = await worker.claimOk();
  expectStatus(await worker.complete(a.id, { result: 'success', output_data: { result: { v: 1 } } }), 200, 'complete a');

  const shown = await cli(['show', `${prefix}-wf`]);
  expect(shown.code).toBe(0);
  expect(shown.stdout).toContain(`workflow ${prefix}-wf: RUNNING`);
  expect(shown.stdout).toMatch(/│ d\s+│ blocked\s+│ b, c\s+│ -/);
  expect(shown.stdout).toMatch(new RegExp(`│ a\\s+│ completed\\s+│ -\\s+│ ${worker.name}`));
  expect(shown.stdout).toContain('a [success]\n├─ b [pending]\n│  └─ d [blocked]\n└─ c [pending]\n   └─ ↑ d');

  expect(JSON.parse((await cli(['output', `${prefix}-wf`, '--task', 'a'])).stdout)).toEqual({ v: 1 });
  expect(JSON.parse((await cli(['metadata', `${prefix}-wf`, '--task', 'b'])).stdout)).toMatchObject({ task_id: 'b', depends_on: ['a'] });
  const running = await cli(['list', '--status', 'running']);
  expect(running.stdout).toContain(`${prefix}-wf`);
  expect((await cli(['list', '--status', 'FAILED'])).stdout).not.toContain(`${prefix}-wf`);

  expect((await cli(['delete', `${prefix}-wf`])).code).toBe(1);
  expect(await cli(['cancel', `${prefix}-wf`])).toMatchObject({ code: 0, stdout: `workflow ${prefix}-wf: CANCELED\n` });
  const resume = await cli(['resume', `${prefix}-wf`]);
  expect(resume.code).toBe(1);
  expect(resume.stderr).toMatch(/canceled/);
  expect(await cli(['delete', `${prefix}-wf`])).toMatchObject({ code: 0, stdout: `deleted workflow ${prefix}-wf\n` });
  expect(await cli(['resume-all', '--include-failed'])).toMatchObject({ code: 0, stdout: 'nothing to resume\n' });
});

test.each([
  ['a file that is not JSON', () => ['submit', writeWorkflow('bad.json', 'x')], /not valid JSON|must be a JSON object/],
  ['a cycle', () => ['submit', writeWorkflow('cycle.json', { tasks: [spec('cy', 'a', ['b']), spec('cy', 'b', ['a'])] })], /dependency cycle/],
  ['an unknown status', () => ['list', '--status', 'DONE'], /unknown status "DONE"/],
])('%s: exit 2 with one readable line', async (_label, args, message) => {
  const result = await cli(args());
  expect(result.code).toBe(2);
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
  expect(result.stderr).toMatch(message);
});

test('the dependency tree draws each task once, under its first dependency', () => {
  const item = (task_id: string, depends_on: string[] = []) => ({ task_id, depends_on, status: 'blocked' as const, result: null });
  expect(renderDependencyTree([item('a'), item('b', ['a']), item('c', ['b']), item('x')])).toBe('a [blocked]\n└─ b [blocked]\n   └─ c [blocked]\nx [blocked]');
});

test("show and list give a workflow's expected end (the estimates pass's latest for its unfinished tasks); --json carries it too", async () => {
  const prefix = uniqueTaskName('cliwfeta');
  const id = `${prefix}-wf`;
  const file = writeWorkflow('eta.json', { tasks: [spec(prefix, 'a'), spec(prefix, 'b', ['a'])] });
  expect((await cli(['submit', file, '--id', id])).code).toBe(0);
  const created = expectStatus(await server.request<{ tasks: Array<{ task_id: string; work_request_id: number }> }>('GET', `/api/v1/workflows/${id}?tasks=true`, { token: server.clientToken }), 200, 'GET').body;
  const byTask = new Map(created.tasks.map((task) => [task.task_id, task.work_request_id]));
  // What the pass would have stored (its own tests cover how): b, after a, ends last.
  const end = new Date(Date.now() + 2 * 3_600_000);
  const hour = new Date(Date.now() + 3_600_000);
  await storeEstimates(server, [
    { id: byTask.get('a')!, start: new Date(), end: hour, reason: 'a: 1 h' },
    { id: byTask.get('b')!, start: hour, end, reason: 'b: after a, 1 h' },
  ]);

  const shown = await cli(['show', id]);
  expect(shown.code).toBe(0);
  expect(shown.stdout).toMatch(new RegExp(`^workflow ${id}: RUNNING.*\\nexpected end: ${end.toISOString().replace(/\./g, '\\.')} \\(in [12]h\\d\\dm\\): b: after a, 1 h\\n`));
  expect(JSON.parse((await cli(['show', id, '--json'])).stdout)).toMatchObject({ expected_end_at: end.toISOString(), eta_reason: 'b: after a, 1 h' });

  const listed = await cli(['list', '--status', 'running']);
  expect(listed.stdout).toMatch(/expected end/);
  expect(listed.stdout.split('\n').find((line) => line.includes(id))).toMatch(/in [12]h\d\dm/);
  const listedJson = JSON.parse((await cli(['list', '--status', 'running', '--json'])).stdout) as Array<{ workflow_id: string; expected_end_at: string | null }>;
  expect(listedJson.find((item) => item.workflow_id === id)?.expected_end_at).toBe(end.toISOString());
});
