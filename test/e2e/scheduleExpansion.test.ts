/**
 * Schedules whose spec reads a required_folder, with a real worker: single_file_task expands at each firing
 * into a workflow of one task per matching file (as POST /work-requests does), without it the matching paths
 * go in one request, and a firing that finds no matching file creates nothing (skipped, last_error says why).
 * Every task of a scheduled workflow carries `schedule`: the ones a firing creates, ones added to the open
 * workflow later, and a resumed attempt.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { WorkRequest } from '../../protocol/workRequest';
import { pollUntil } from '../helpers/waitFor';
import { cleanup, shellTask, startE2EServer, startWorker, task, tmpDir, uniqueName, withProcessLogs, type E2EServer } from './support';

jest.setTimeout(120_000);

let server: E2EServer;

beforeAll(async () => {
  server = await startE2EServer();
});

afterAll(async () => {
  await cleanup(server);
});

const workOf = async (name: string): Promise<WorkRequest[]> =>
  (await server.client.listWorkRequests({ limit: 500, schedule: name })).work_requests.sort((a, b) => a.id - b.id);
const allDone = (list: WorkRequest[], count: number) => list.length === count && list.every((item) => item.status === 'completed');
const write = (folder: string, ...names: string[]) => names.map((name) => {
  fs.writeFileSync(path.join(folder, name), `${name}\n`);
  return path.join(folder, name);
});

test(
  'single_file_task expands at every firing into a workflow of one task per matching file; without it the paths go in one request',
  withProcessLogs(async () => {
    const worker = await startWorker(server, { concurrency: 4 });
    const inbox = tmpDir('sched-expand');
    const csv = write(inbox, 'a.csv', 'b.csv', 'c.csv');
    write(inbox, 'notes.txt');
    const folderSpec = (taskName: string) => ({
      ...task('/bin/echo', [], { task_name: taskName }),
      required_folder: [inbox],
      required_file_expression: ['\\.csv$'],
      filepath_parameter: ['input'],
    });
    const each = uniqueName('each');
    const together = uniqueName('together');
    // Every 2 s, overlap skip: the next firing waits for the last one's work, so each firing sees the folder as it is then.
    await server.client.createSchedule({ name: each, trigger: { every: '2s' }, spec: { ...folderSpec(uniqueName('one')), single_file_task: true } });
    await server.client.createSchedule({ name: together, trigger: { every: '2s' }, spec: folderSpec(uniqueName('all')) });

    const first = await pollUntil(() => workOf(each), { description: 'the first firing of each to run', until: (list) => allDone(list, 3), timeoutMs: 40_000 });
    expect(first.map((item) => item.task_data.execution.parameters.input)).toEqual(csv);
    expect(first.map((item) => item.task_data.required_filepath)).toEqual(csv.map((file) => [file]));
    expect(first.map((item) => item.result)).toEqual(['success', 'success', 'success']);
    const [workflowId] = new Set(first.map((item) => item.workflow_id));
    expect(workflowId).toMatch(new RegExp(`^${each}:\\d+$`));
    const shown = await pollUntil(() => server.client.getSchedule(each), { description: 'last_firing to show the workflow', until: (value) => value.last_firing?.status === 'SUCCESSFUL' });
    expect(shown.last_firing).toMatchObject({ workflow_id: workflowId, work_request_id: null, reason: 'scheduled' });

    const joined = await pollUntil(() => workOf(together), { description: 'the paths in one request', until: (list) => list.length > 0 && list.every((item) => item.status === 'completed') });
    await server.client.pauseSchedule(together);
    expect(joined[0].task_data.execution.parameters.input).toEqual(csv);
    expect(joined[0]).toMatchObject({ workflow_id: null, result: 'success', schedule: together });

    // A later firing reads the folder again: a fourth file, a fourth task.
    const [d] = write(inbox, 'd.csv');
    const withD = await pollUntil(
      async () => {
        const work = await workOf(each);
        const withFile = work.find((item) => item.task_data.execution.parameters.input === d);
        return withFile ? work.filter((item) => item.workflow_id === withFile.workflow_id) : [];
      },
      { description: 'a later firing with the new file', until: (list) => allDone(list, 4), timeoutMs: 40_000 },
    );
    await server.client.pauseSchedule(each);
    expect(withD.map((item) => item.task_data.execution.parameters.input)).toEqual([...csv, d]);
    expect(withD[0].workflow_id).not.toBe(workflowId);
    worker.killGroup();
  }),
);

test('a firing whose required_folder has no matching file creates nothing: skipped, with the reason in last_error', async () => {
  const empty = tmpDir('sched-empty');
  write(empty, 'notes.txt');
  const name = uniqueName('nothing');
  await server.client.createSchedule({
    name,
    trigger: { every: '1s' },
    spec: { ...task('/bin/echo'), required_folder: [empty], required_file_expression: ['\\.csv$'], filepath_parameter: ['input'], single_file_task: true },
  });
  const shown = await pollUntil(() => server.client.getSchedule(name), { description: 'skipped fire times', until: (value) => value.skipped_count >= 2 });
  expect(shown.firings_count).toBe(0);
  expect(shown.last_firing).toBeNull();
  expect(shown.last_error).toContain('no file whose name matches \\.csv$');
  await expect(server.client.triggerSchedule(name)).rejects.toMatchObject({ status: 409, code: 'schedule_expansion_failed' });

  // The file arrives: the next firing creates the workflow and clears the error.
  write(empty, 'late.csv');
  const fired = await pollUntil(() => server.client.getSchedule(name), { description: 'a firing once the file is there', until: (value) => value.firings_count >= 1 });
  expect(fired.last_error).toBeNull();
  expect((await workOf(name)).map((item) => item.task_data.execution.parameters.input)).toEqual([path.join(empty, 'late.csv')]);
  await server.client.deleteSchedule(name);
});

test(
  'every task of a scheduled workflow carries the schedule: created by the firing, added later, and a resumed attempt',
  withProcessLogs(async () => {
    const worker = await startWorker(server, { concurrency: 2 });
    const name = uniqueName('wf');
    const marker = path.join(tmpDir('sched-wf'), 'second-try');
    await server.client.createSchedule({
      name,
      trigger: { every: '1h' },
      workflow: {
        open: true,
        tasks: [
          { ...shellTask('true'), task_id: 'fetch' },
          // Fails the first time, succeeds once resumed.
          { ...shellTask(`test -e ${marker} || { touch ${marker}; exit 1; }`, { max_attempts: 1 }), task_id: 'report', depends_on: ['fetch'] },
        ],
      },
    });
    const { firings: [firing] } = await server.client.triggerSchedule(name);
    const workflowId = firing.workflow_id!;
    await server.client.addWorkflowTasks(workflowId, [{ ...shellTask('true'), task_id: 'extra' }]);
    await server.client.closeWorkflow(workflowId);
    const failed = await pollUntil(() => server.client.getWorkflow(workflowId), { description: 'the workflow to fail', until: (value) => value.status === 'FAILED', timeoutMs: 40_000 });
    expect(failed.status).toBe('FAILED');
    await server.client.resumeWorkflow(workflowId);
    await pollUntil(() => server.client.getWorkflow(workflowId), { description: 'the resumed workflow to succeed', until: (value) => value.status === 'SUCCESSFUL', timeoutMs: 40_000 });

    const work = await workOf(name);
    expect(work.map((item) => [item.task_id, item.attempt, item.result])).toEqual([
      ['fetch', 1, 'success'],
      ['report', 1, 'failure'],
      ['extra', 1, 'success'],
      ['report', 2, 'success'],
    ]);
    expect(work.map((item) => item.schedule)).toEqual(work.map(() => name));
    expect(new Set(work.map((item) => item.workflow_id))).toEqual(new Set([workflowId]));
    worker.killGroup();
  }),
);
