/**
 * Workflows through a real server and real worker agents: a diamond whose last task reads its dependencies'
 * results from $WORKSCHED_INPUTS_FILE, a failure that skips its dependant and a resume that re-runs only what
 * did not succeed (counted by side-effect files), cancel killing the running task, and a worker killed with
 * kill -9 under a task that may not be interrupted (RESUMABLE, then resume-all).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { TaskMetadata, WorkflowTaskInput } from '../../protocol/workflow';
import { WorkflowBuilder } from '../../client';
import { pollUntil } from '../helpers/waitFor';
import type { WorkerProcess } from '../helpers/workerProcess';
import { cleanup, removeTaskCgroups, shellTask, startE2EServer, startWorker, tmpDir, uniqueName, waitForTaskProcesses, waitUntilTaskGone, withProcessLogs, type E2EServer } from './support';

let server: E2EServer;
let worker: WorkerProcess;
const killedRequests: number[] = [];

beforeAll(async () => {
  server = await startE2EServer({ heartbeatTimeoutS: 3 });
  worker = await startWorker(server, { concurrency: 2 });
}, 60_000);

afterAll(async () => {
  for (const id of killedRequests) await removeTaskCgroups(server.client, id).catch(() => undefined);
  await cleanup(server);
});

/**
 * A shell task that leaves one file `<counter>.<task_id>.<pid>.<ns>` per run, then runs `body`. One file per run,
 * not lines appended to one file: concurrent tasks run as different users, and one cannot append to another's.
 */
function counted(counter: string, taskId: string, body: string, extra: Partial<WorkflowTaskInput> = {}): WorkflowTaskInput {
  const spec = shellTask(`: > '${counter}.${taskId}.'$$.$(date +%s%N); ${body}`, { max_attempts: 1, use_history: false });
  return { ...spec, task_name: uniqueName(`wf-${taskId}`), task_id: taskId, ...extra };
}

const runsOf = (counter: string) => {
  const prefix = `${path.basename(counter)}.`;
  const counts: Record<string, number> = {};
  for (const name of fs.readdirSync(path.dirname(counter))) {
    if (!name.startsWith(prefix)) continue;
    const taskId = name.slice(prefix.length).split('.')[0];
    counts[taskId] = (counts[taskId] ?? 0) + 1;
  }
  return counts;
};

const waitForStatus = (id: string, status: string, timeoutMs = 30_000) =>
  pollUntil(async () => {
    const workflow = await server.client.getWorkflow(id);
    return workflow.status === status ? workflow : null;
  }, { description: `workflow ${id} ${status}`, timeoutMs, intervalMs: 100 });

it('a diamond runs in order and d finds the results of b and c in its inputs file', withProcessLogs(async () => {
  const counter = path.join(tmpDir('diamond'), 'runs');
  const wf = new WorkflowBuilder(uniqueName('diamond'));
  const spec = (taskId: string, body: string) => {
    const { task_id: _id, ...rest } = counted(counter, taskId, body);
    return rest;
  };
  const a = wf.task('a', spec('a', `echo '{"n": 1}' > "$WORKSCHED_RESULT_FILE"`));
  const b = wf.task('b', spec('b', `echo '"b saw '$(cat "$WORKSCHED_INPUTS_FILE" | tr -d ' "{}:n')'"' > "$WORKSCHED_RESULT_FILE"`), { dependsOn: [a] });
  const c = wf.task('c', spec('c', `echo '[1, 2]' > "$WORKSCHED_RESULT_FILE"`), { dependsOn: [a] });
  wf.task('d', spec('d', `cp "$WORKSCHED_INPUTS_FILE" "$WORKSCHED_RESULT_FILE"`), { dependsOn: [b, c] });
  const created = await server.client.createWorkflow(wf.build());
  const done = await server.client.waitForWorkflow(created.workflow_id, { timeoutMs: 30_000, intervalMs: 100 });
  expect(done.status).toBe('SUCCESSFUL');
  const output = await server.client.getWorkflowOutput(created.workflow_id);
  expect(output.results).toEqual({ d: { b: 'b saw a1', c: [1, 2] } });
  expect(runsOf(counter)).toEqual({ a: 1, b: 1, c: 1, d: 1 });
  const meta = (taskId: string) => server.client.getWorkflowMetadata(created.workflow_id, taskId);
  const [ma, mb, mc, md] = await Promise.all(['a', 'b', 'c', 'd'].map(meta));
  const started = (m: TaskMetadata) => Date.parse(m.stats.start_time as string);
  const ended = (m: TaskMetadata) => Date.parse(m.stats.end_time as string);
  expect(started(mb)).toBeGreaterThanOrEqual(ended(ma));
  expect(started(mc)).toBeGreaterThanOrEqual(ended(ma));
  expect(started(md)).toBeGreaterThanOrEqual(Math.max(ended(mb), ended(mc)));
}), 60_000);

it('a failing b skips d (FAILED, c still ran); end_time only once it ended; a resume re-runs only b and d, with new times', withProcessLogs(async () => {
  const dir = tmpDir('resume');
  const counter = path.join(dir, 'runs');
  const fixed = path.join(dir, 'fixed');
  const gate = path.join(dir, 'gate');
  const id = uniqueName('resume');
  await server.client.createWorkflow({
    workflow_id: id,
    tasks: [
      counted(counter, 'a', 'true'),
      counted(counter, 'b', `test -e '${fixed}'`, { depends_on: ['a'] }),
      // c waits for the gate, so the test sees the workflow running.
      counted(counter, 'c', `while [ ! -e '${gate}' ]; do sleep 0.05; done`, { depends_on: ['a'] }),
      counted(counter, 'd', 'true', { depends_on: ['b', 'c'] }),
    ],
  });
  await pollUntil(() => (runsOf(counter).c === 1 ? true : null), { description: 'c running', timeoutMs: 20_000 });
  const running = await server.client.getWorkflow(id);
  expect(running.status).toBe('RUNNING');
  expect(running.stats.start_time).toEqual(expect.any(String));
  expect(running.stats.end_time).toBeUndefined();
  fs.writeFileSync(gate, '');
  const failed = await waitForStatus(id, 'FAILED');
  expect(runsOf(counter)).toEqual({ a: 1, b: 1, c: 1 });
  expect((await server.client.getWorkflowMetadata(id, 'd')).work_request).toMatchObject({ result: 'skipped', output_data: { skip_reason: expect.stringContaining('"b"') } });
  expect(failed.stats.end_time).toEqual(expect.any(String));

  fs.writeFileSync(fixed, '');
  await server.client.resumeWorkflow(id);
  const again = await server.client.waitForWorkflow(id, { timeoutMs: 30_000, intervalMs: 100 });
  expect(again.status).toBe('SUCCESSFUL');
  expect(runsOf(counter)).toEqual({ a: 1, b: 2, c: 1, d: 1 });
  expect(Date.parse(again.stats.start_time as string)).toBeGreaterThan(Date.parse(failed.stats.start_time as string));
  expect(Date.parse(again.stats.end_time as string)).toBeGreaterThan(Date.parse(failed.stats.end_time as string));
}), 60_000);

it('cancel kills the running task within 2 s, aborts the rest, CANCELED, and resume is refused', withProcessLogs(async () => {
  const counter = path.join(tmpDir('cancel'), 'runs');
  const id = uniqueName('cancel');
  await server.client.createWorkflow({ workflow_id: id, tasks: [counted(counter, 'long', 'sleep 120'), counted(counter, 'after', 'true', { depends_on: ['long'] })] });
  const long = await pollUntil(async () => {
    const metadata = await server.client.getWorkflowMetadata(id, 'long');
    return metadata.status === 'running' ? metadata : null;
  }, { description: 'long running', timeoutMs: 20_000 });
  await waitForTaskProcesses(long.work_request.id, 20_000);
  const deleting = await server.client.deleteWorkflow(id).catch((error: unknown) => error);
  expect(deleting).toMatchObject({ status: 409, code: 'workflow_active' });
  const cancelledAt = performance.now();
  const cancelled = await server.client.cancelWorkflow(id);
  expect(cancelled.status).toBe('CANCELED');
  await waitUntilTaskGone(long.work_request.id, 5_000);
  const killMs = performance.now() - cancelledAt;
  process.stdout.write(`workflow cancel: running task gone ${Math.round(killMs)} ms after the cancel\n`);
  expect(killMs).toBeLessThanOrEqual(2_000);
  expect(cancelled.task_counts).toMatchObject({ aborted: 2 });
  expect(cancelled.stats.end_time).toBeUndefined();
  expect(await server.client.resumeWorkflow(id).catch((error: unknown) => error)).toMatchObject({ status: 409, code: 'workflow_canceled' });
  expect(runsOf(counter)).toEqual({ long: 1 });
}), 60_000);

it('max_running 2 with four free slots: never more than two of its tasks run at once, and the rest run later', withProcessLogs(async () => {
  const dir = tmpDir('slots');
  // A second worker: four slots in all, so only the workflow's limit keeps its tasks to two at a time.
  const helper = await startWorker(server, { concurrency: 2 });
  try {
    const id = uniqueName('slots');
    const taskIds = ['s1', 's2', 's3', 's4', 's5', 's6'];
    await server.client.createWorkflow({
      workflow_id: id,
      max_running: 2,
      tasks: taskIds.map((taskId) => ({
        ...shellTask(`date +%s%N > '${dir}/${taskId}.start'; sleep 2; date +%s%N > '${dir}/${taskId}.end'`, { max_attempts: 1, use_history: false }),
        task_name: uniqueName(`wf-${taskId}`),
        task_id: taskId,
      })),
    });
    const done = await server.client.waitForWorkflow(id, { timeoutMs: 60_000, intervalMs: 100 });
    expect(done.status).toBe('SUCCESSFUL');
    const read = (taskId: string, end: string) => Number(BigInt(fs.readFileSync(path.join(dir, `${taskId}.${end}`), 'utf8').trim()) / 1_000_000n);
    const runs = taskIds.map((taskId) => ({ start: read(taskId, 'start'), end: read(taskId, 'end') }));
    // The most runs in progress at any one moment: at every start, those started and not yet ended.
    const overlap = Math.max(...runs.map((run) => runs.filter((other) => other.start <= run.start && other.end > run.start).length));
    expect(overlap).toBe(2);
  } finally {
    await helper.stop();
  }
}), 90_000);

it('a worker killed with kill -9 under a task with interrupt_allowed false leaves the workflow RESUMABLE; resume-all finishes it', withProcessLogs(async () => {
  const dir = tmpDir('kill');
  const counter = path.join(dir, 'runs');
  const marker = path.join(dir, 'first-run');
  // This file's worker is the victim (this test comes last).
  const victim = worker;
  const id = uniqueName('kill');
  await server.client.createWorkflow({
    workflow_id: id,
    tasks: [
      // The first run hangs (and is killed with its worker); the second finds the marker and succeeds.
      counted(counter, 'fragile', `if [ -e '${marker}' ]; then exit 0; fi; touch '${marker}'; sleep 120`, { interrupt_allowed: false }),
      counted(counter, 'next', 'true', { depends_on: ['fragile'] }),
    ],
  });
  const fragile = await pollUntil(async () => {
    const metadata = await server.client.getWorkflowMetadata(id, 'fragile');
    return metadata.status === 'running' ? metadata : null;
  }, { description: 'fragile running', timeoutMs: 20_000 });
  await waitForTaskProcesses(fragile.work_request.id, 20_000);
  // Its process exists; wait for its marker too, so the kill comes after the counted start and after the first
  // run left the marker (killed between the two, the second run would not find it and hang in its place).
  await pollUntil(() => (runsOf(counter).fragile === 1 && fs.existsSync(marker) ? true : null), { description: 'fragile counted and its marker left', timeoutMs: 20_000 });
  killedRequests.push(fragile.work_request.id);
  victim.signal('SIGKILL');
  await victim.waitForExit(10_000);
  const stopped = await waitForStatus(id, 'RESUMABLE', 30_000);
  expect(stopped.status_reason).toContain('worker_lost');
  expect(runsOf(counter)).toEqual({ fragile: 1 });

  await startWorker(server, { concurrency: 1 });
  expect(await server.client.resumeAllWorkflows()).toEqual([{ workflow_id: id, status: 'RUNNING' }]);
  expect((await server.client.waitForWorkflow(id, { timeoutMs: 30_000, intervalMs: 100 })).status).toBe('SUCCESSFUL');
  expect(runsOf(counter)).toEqual({ fragile: 2, next: 1 });
}), 90_000);
