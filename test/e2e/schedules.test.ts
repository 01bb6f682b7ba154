/**
 * Schedules with a real worker agent: overlap skip while a task runs longer than the period, and a files
 * trigger on a folder where files appear over time (some at once) running each file exactly once, also across
 * a server restart; a batch of 3 waits for its third file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { WorkschedClient } from '../../client';
import type { Schedule, CreateScheduleRequest } from '../../protocol/schedules';
import type { WorkRequest } from '../../protocol/workRequest';
import { compileServerConfig } from '../../server/config';
import { startServer, type RunningServer } from '../../server/startServer';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { expectStatus, httpRequest } from '../helpers/server';
import { pollUntil } from '../helpers/waitFor';
import { cleanup, freePort, shellTask, startWorker, task, tmpDir, uniqueName, withProcessLogs } from './support';

jest.setTimeout(90_000);

let db: TestDatabase;
let port: number;
let running: RunningServer | null = null;
const dataDir = tmpDir('schedules-server');

/** The server on a fixed port and database, so that it can be stopped and started again under its worker. */
async function start(): Promise<RunningServer> {
  running = await startServer(
    compileServerConfig({ databaseUrl: db.url, port, host: '127.0.0.1', dataDir, logLevel: (process.env.WORKSCHED_TEST_SERVER_LOG as 'error' | undefined) ?? 'silent', heartbeatTimeoutS: 30, heartbeatIntervalS: 0.5, housekeepingIntervalS: 1 }),
  );
  return running;
}

beforeAll(async () => {
  db = await createTestDatabase();
  port = await freePort();
  await start();
});

afterAll(async () => {
  await cleanup(running ?? undefined);
  await db.drop();
});

const token = () => running!.adminToken;
const url = () => running!.url;
const client = () => new WorkschedClient({ baseUrl: url(), token: token() });

async function createSchedule(body: CreateScheduleRequest): Promise<Schedule> {
  return expectStatus(await httpRequest<Schedule>(url(), 'POST', '/api/v1/schedules', { token: token(), body }), 201, 'create schedule').body;
}
async function getSchedule(name: string): Promise<Schedule> {
  return expectStatus(await httpRequest<Schedule>(url(), 'GET', `/api/v1/schedules/${name}`, { token: token() }), 200, 'get schedule').body;
}
async function workOf(name: string): Promise<WorkRequest[]> {
  const page = await client().listWorkRequests({ limit: 500, schedule: name });
  return page.work_requests.sort((a, b) => a.id - b.id);
}

test(
  'overlap skip: a task longer than the period is never joined by the next firing; the times in between are skipped',
  withProcessLogs(async () => {
    const worker = await startWorker({ url: url(), enrollmentToken: running!.enrollmentToken }, { concurrency: 4 });
    const name = uniqueName('overlap');
    await createSchedule({ name, trigger: { every: '1s' }, spec: shellTask('sleep 2.5', { task_name: uniqueName('slow') }) });
    const shown = await pollUntil(() => getSchedule(name), { description: 'two finished firings', until: (value) => value.firings_count >= 3, timeoutMs: 30_000 });
    expect(shown.skipped_count).toBeGreaterThanOrEqual(3);
    const work = await pollUntil(() => workOf(name), { description: 'the first two to end', until: (list) => list.filter((item) => item.status === 'completed').length >= 2 });
    const ended = work.filter((item) => item.status === 'completed');
    expect(ended.map((item) => item.result)).toEqual(ended.map(() => 'success'));
    // Each run starts after the previous one has ended (the worker had 4 free slots: only the policy kept them apart).
    for (let index = 1; index < work.length; index += 1) {
      expect(Date.parse(work[index].created_at)).toBeGreaterThanOrEqual(Date.parse(work[index - 1].completed_at ?? '9999-01-01'));
    }
    expect((await httpRequest(url(), 'DELETE', `/api/v1/schedules/${name}`, { token: token() })).status).toBe(204);
    worker.killGroup();
  }),
);

test(
  'files: 7 files appearing over time (some at once) each run once, across a server restart; a batch of 3 waits for its third file',
  withProcessLogs(async () => {
    const worker = await startWorker({ url: url(), enrollmentToken: running!.enrollmentToken }, { concurrency: 4 });
    const inbox = tmpDir('inbox');
    const batches = tmpDir('batches');
    const single = uniqueName('files');
    const triple = uniqueName('triples');
    const spec = (taskName: string) => ({ ...task('/bin/echo', [], { task_name: taskName }), filepath_parameter: ['input'] });
    await createSchedule({ name: single, trigger: { files: { folder: inbox, expression: '\\.csv$' } }, spec: spec(uniqueName('each')) });
    await createSchedule({ name: triple, trigger: { files: { folder: batches, batch_size: 3 } }, spec: spec(uniqueName('three')) });
    const write = (folder: string, ...names: string[]) => names.map((file) => {
      const full = path.join(folder, file);
      fs.writeFileSync(full, `${file}\n`);
      return full;
    });
    const pathsRun = async () => (await workOf(single)).map((request) => request.task_data.execution.parameters.input);
    const allDone = (list: WorkRequest[], count: number) => list.length >= count && list.every((item) => item.status === 'completed');

    // Not matching the expression, and a dot file: never run.
    write(inbox, 'notes.txt', '.partial.csv');
    const expected = write(inbox, 'a.csv');
    await pollUntil(() => workOf(single), { description: 'a.csv to run', until: (list) => allDone(list, 1) });
    expected.push(...write(inbox, 'b.csv', 'c.csv', 'd.csv'));
    await pollUntil(() => workOf(single), { description: 'b, c and d to run', until: (list) => allDone(list, 4) });

    // Two of three: the batch waits (seen, pending) while the other schedule goes on firing.
    const firstTwo = write(batches, '1.dat', '2.dat');
    await pollUntil(() => getSchedule(triple), { description: 'two pending files', until: (value) => value.pending_files === 2 });

    // A restart: what was fired stays fired, and the pending pair stays pending.
    await running!.close();
    expected.push(...write(inbox, 'e.csv'));
    await start();
    expected.push(...write(inbox, 'f.csv', 'g.csv'));
    await pollUntil(() => workOf(single), { description: 'all 7 files to run', until: (list) => allDone(list, 7), timeoutMs: 30_000 });
    expect((await getSchedule(triple)).firings_count).toBe(0);
    const third = write(batches, '3.dat');
    const [batch] = await pollUntil(() => workOf(triple), { description: 'the batch of three', until: (list) => allDone(list, 1) });
    expect(batch.task_data.execution.parameters.input).toEqual([...firstTwo, ...third]);
    expect(batch.result).toBe('success');

    await pollUntil(() => getSchedule(single), { description: 'the ledger to settle', until: (value) => value.pending_files === 0 });
    expect((await pathsRun()).sort()).toEqual([...expected].sort());
    const work = await workOf(single);
    expect(work.map((item) => item.result)).toEqual(work.map(() => 'success'));
    expect(work.map((item) => item.schedule)).toEqual(work.map(() => single));
    const shown = await getSchedule(single);
    expect(shown).toMatchObject({ firings_count: 7, last_firing: { reason: 'files', status: 'completed', result: 'success' }, next_fire_times: [] });
    worker.killGroup();
  }),
);
