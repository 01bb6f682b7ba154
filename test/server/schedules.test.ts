/**
 * Schedules over HTTP on a real server whose schedules tick runs every second: validation (node-cron's own
 * parser names the field), next fire times in the schedule's time zone, `every` firing on time with the work
 * carrying the schedule's name, pause/resume, trigger, delete, and an idempotent create.
 */
import cron from 'node-cron';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ErrorResponse } from '../../protocol/errors';
import type { CreateScheduleRequest, Schedule } from '../../protocol/schedules';
import type { WorkRequestList } from '../../protocol/workRequest';
import { expectStatus, startTestServer, taskSpec, type TestServer } from '../helpers/server';
import { pollUntil } from '../helpers/waitFor';

jest.setTimeout(60_000);

let server: TestServer;
const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'worksched-schedules-api-'));

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
  fs.rmSync(folder, { recursive: true, force: true });
});

let counter = 0;
const scheduleName = (prefix: string) => `${prefix}-${process.pid}-${++counter}`;

const schedule = (overrides: Partial<CreateScheduleRequest> = {}): CreateScheduleRequest => ({
  name: scheduleName('s'),
  trigger: { every: '1h' },
  spec: taskSpec(),
  ...overrides,
});

const post = (body: unknown) => server.request<Schedule & Partial<ErrorResponse>>('POST', '/api/v1/schedules', { token: server.clientToken, body });
const get = async (name: string) => expectStatus(await server.request<Schedule>('GET', `/api/v1/schedules/${name}`, { token: server.clientToken }), 200, `GET ${name}`).body;
const action = (name: string, verb: 'pause' | 'resume' | 'trigger') => server.request<Record<string, unknown>>('POST', `/api/v1/schedules/${name}/${verb}`, { token: server.clientToken });
const firingsOf = (name: string) =>
  server.sql<{ fire_time: Date; created_at: Date; reason: string; work_request_id: string }>(
    `select f.fire_time, f.created_at, f.reason, f.work_request_id from schedule_firing f join schedule s on s.id = f.schedule_id where s.name = $1 order by f.fire_time`,
    [name],
  );

test.each<[string, string, Record<string, unknown>, RegExp]>([
  ['a cron field out of range', 'trigger.cron', { trigger: { cron: '61 * * * *' } }, /minute/],
  ['a cron expression of 3 fields', 'trigger.cron', { trigger: { cron: '* * *' } }, /5 or 6 fields/],
  ['an unknown time zone', 'trigger.timezone', { trigger: { cron: '0 * * * *', timezone: 'Mars/Olympus' } }, /unknown time zone/],
  ['an every that is no duration', 'trigger.every', { trigger: { every: 'soon' } }, /not a period/],
  ['a trigger of no kind', 'trigger', { trigger: {} }, /one of cron, every or files/],
  ['a trigger of two kinds', 'trigger', { trigger: { cron: '* * * * *', every: '1m' } }, /only one of/],
  ['a workflow template and a task spec both', 'workflow', { workflow: { tasks: [] } }, /not both/],
  ['a workflow template with a files trigger', 'workflow', { spec: undefined, workflow: { tasks: [] }, trigger: { files: { folder } } }, /files trigger/],
  ['a workflow template with a bad task', 'workflow.tasks[0].execution', { spec: undefined, workflow: { tasks: [{ task_name: 'x', execution: {} }] } }, /one of executable, script or python/],
  ['a workflow template whose task depends on no task', 'workflow.tasks[0].depends_on[0]', { spec: undefined, workflow: { tasks: [{ ...taskSpec(), depends_on: ['nothing'] }] } }, /no task of this workflow/],
  ['no template', 'spec', { spec: undefined }, /task spec/],
  ['a bad task spec', 'spec.execution', { spec: { task_name: 'x', execution: {} } }, /one of executable, script or python/],
  ['a files trigger on a relative folder', 'trigger.files.folder', { trigger: { files: { folder: 'data/in' } }, spec: { ...taskSpec(), filepath_parameter: ['input'] } }, /absolute/],
  ['a files trigger on a folder the server cannot read', 'trigger.files.folder', { trigger: { files: { folder: '/nonexistent/worksched' } }, spec: { ...taskSpec(), filepath_parameter: ['input'] } }, /cannot read folder/],
  ['a files trigger without filepath_parameter', 'spec.filepath_parameter', { trigger: { files: { folder } } }, /parameter/],
  ['a bad file expression', 'trigger.files.expression', { trigger: { files: { folder, expression: '([' } }, spec: { ...taskSpec(), filepath_parameter: ['input'] } }, /regular expression/],
  ['a name with a slash', 'name', { name: 'a/b' }, /letters/],
  ['an unknown overlap policy', 'overlap', { overlap: 'queue' }, /./],
])('%s is a 400 naming %s; nothing is written', async (_what, issuePath, change, message) => {
  const before = await server.countAll();
  const answer = await post({ ...schedule(), ...change });
  expect(answer.status).toBe(400);
  expect(answer.body.error?.code).toBe('validation_failed');
  const issue = answer.body.error?.issues?.find((item) => item.path === issuePath);
  expect({ issues: answer.body.error?.issues, found: Boolean(issue) }).toEqual({ issues: answer.body.error?.issues, found: true });
  expect(issue!.message).toMatch(message);
  expect(await server.countAll()).toEqual(before);
});

test("a cron schedule's next five fire times are node-cron's own, written in the schedule's time zone", async () => {
  for (const [expression, timezone, wallClock] of [
    ['30 9 * * 1-5', 'America/New_York', 'T09:30:00.000'],
    ['15 45 18 * * *', 'Asia/Kolkata', 'T18:45:15.000'],
  ] as const) {
    const created = expectStatus(await post(schedule({ trigger: { cron: expression, timezone } })), 201, 'create cron schedule').body;
    const task = cron.createTask(expression, () => undefined, { timezone });
    const expected = task.getNextRuns(5).map((date) => date.getTime());
    await task.destroy();
    expect(created.trigger).toEqual({ cron: expression, timezone });
    expect(created.next_fire_times.map((time) => Date.parse(time))).toEqual(expected);
    for (const time of created.next_fire_times) {
      expect(time).toContain(wallClock);
      // The offset is the zone's at that instant (e.g. -05:00 or -04:00 in New York, +05:30 in Kolkata).
      const offset = /([+-]\d\d):(\d\d)$/.exec(time)!;
      const offsetMinutes = Number(offset[1]) * 60 + Math.sign(Number(offset[1])) * Number(offset[2]);
      const local = new Date(Date.parse(time) + offsetMinutes * 60_000).toISOString().slice(10, 23);
      expect(local).toBe(wallClock);
    }
    expect((await get(created.name)).next_fire_times).toEqual(created.next_fire_times);
  }
  const local = expectStatus(await post(schedule({ trigger: { cron: '0 3 * * *' } })), 201, 'create').body;
  expect(local.trigger).toEqual({ cron: '0 3 * * *', timezone: Intl.DateTimeFormat().resolvedOptions().timeZone });
});

test('every "2s" fires about every 2 s; its work carries the schedule, which ?schedule= filters on', async () => {
  const name = scheduleName('every2');
  const created = expectStatus(await post(schedule({ name, trigger: { every: '2s' }, overlap: 'allow' })), 201, 'create').body;
  expect(created).toMatchObject({ name, trigger: { every: '2s' }, overlap: 'allow', catch_up: 'none', enabled: true, firings_count: 0, last_firing: null });
  expect(created.next_fire_times).toHaveLength(5);
  expect(created.next_fire_times.map((time) => Date.parse(time) % 2000)).toEqual([0, 0, 0, 0, 0]);
  const shown = await pollUntil(() => get(name), { description: 'four firings', until: (value) => value.firings_count >= 4, timeoutMs: 20_000 });

  const firings = await firingsOf(name);
  expect(firings.length).toBeGreaterThanOrEqual(4);
  const times = firings.map((firing) => firing.fire_time.getTime());
  for (let index = 1; index < times.length; index += 1) expect(times[index] - times[index - 1]).toBe(2000);
  // Fired close to its time: the tick runs every second.
  for (const firing of firings) expect(firing.created_at.getTime() - firing.fire_time.getTime()).toBeLessThan(2500);

  const listed = expectStatus(await server.request<WorkRequestList>('GET', `/api/v1/work-requests?schedule=${name}&limit=500`, { token: server.clientToken }), 200, 'list').body;
  expect(listed.work_requests.length).toBeGreaterThanOrEqual(shown.firings_count);
  expect(new Set(listed.work_requests.map((request) => request.schedule))).toEqual(new Set([name]));
  expect(listed.work_requests.map((request) => request.id).sort((a, b) => a - b)).toEqual(firings.map((firing) => Number(firing.work_request_id)).slice(0, listed.work_requests.length));
  expect(shown.last_firing).toMatchObject({ reason: 'scheduled', status: 'pending', result: null, workflow_id: null });
  expect(listed.work_requests.map((request) => request.id)).toContain(shown.last_firing!.work_request_id);
  const other = expectStatus(await server.request<WorkRequestList>('GET', `/api/v1/work-requests?schedule=${name}x`, { token: server.clientToken }), 200, 'list').body;
  expect(other.work_requests).toEqual([]);
  expect((await server.request('DELETE', `/api/v1/schedules/${name}`, { token: server.clientToken })).status).toBe(204);
});

test('overlap skip (the default): no firing while the last one is unfinished, counted as skipped', async () => {
  const name = scheduleName('skip');
  expectStatus(await post(schedule({ name, trigger: { every: '1s' } })), 201, 'create');
  // No worker: the first firing's request stays pending, so every later time is skipped.
  const shown = await pollUntil(() => get(name), { description: 'skipped firings', until: (value) => value.skipped_count >= 3, timeoutMs: 15_000 });
  expect(shown.firings_count).toBe(1);
  expect(shown.last_firing?.status).toBe('pending');
  expect((await server.request('DELETE', `/api/v1/schedules/${name}`, { token: server.clientToken })).status).toBe(204);
});

test('pause stops firing and shows no next times; resume fires again', async () => {
  const name = scheduleName('paused');
  const clock = scheduleName('clock');
  expectStatus(await post(schedule({ name, trigger: { every: '1s' }, overlap: 'allow' })), 201, 'create');
  expectStatus(await post(schedule({ name: clock, trigger: { every: '1s' }, overlap: 'allow' })), 201, 'create clock');
  await pollUntil(() => get(name), { description: 'a first firing', until: (value) => value.firings_count >= 1 });
  const paused = expectStatus(await action(name, 'pause'), 200, 'pause').body as unknown as Schedule;
  expect(paused).toMatchObject({ enabled: false, next_fire_times: [] });
  const countAtPause = (await get(name)).firings_count;
  // The clock schedule fires every second: three of its firings mean three of the paused one's times went by.
  const clockAtPause = (await get(clock)).firings_count;
  await pollUntil(() => get(clock), { description: 'the clock to fire 3 times', until: (value) => value.firings_count >= clockAtPause + 3 });
  expect((await get(name)).firings_count).toBe(countAtPause);
  expect((await action(name, 'pause')).status).toBe(200);

  const resumed = expectStatus(await action(name, 'resume'), 200, 'resume').body as unknown as Schedule;
  expect(resumed.enabled).toBe(true);
  expect(resumed.next_fire_times).toHaveLength(5);
  expect(Date.parse(resumed.next_fire_times[0])).toBeGreaterThan(Date.now() - 1000);
  await pollUntil(() => get(name), { description: 'firing again after resume', until: (value) => value.firings_count > countAtPause });
  for (const each of [name, clock]) expect((await server.request('DELETE', `/api/v1/schedules/${each}`, { token: server.clientToken })).status).toBe(204);
});

test('trigger fires now even while paused; delete answers 204, the work keeps its schedule name', async () => {
  const name = scheduleName('manual');
  expectStatus(await post(schedule({ name, trigger: { cron: '0 0 1 1 *', timezone: 'UTC' }, enabled: false })), 201, 'create');
  const before = Date.now();
  const fired = expectStatus(await action(name, 'trigger'), 201, 'trigger').body as { schedule: string; firings: Array<{ fire_time: string; work_request_id: number; reason: string }> };
  expect(fired.schedule).toBe(name);
  expect(fired.firings).toHaveLength(1);
  expect(fired.firings[0].reason).toBe('manual');
  expect(Date.parse(fired.firings[0].fire_time)).toBeGreaterThanOrEqual(before - 1000);
  const request = await server.getWorkRequest(fired.firings[0].work_request_id);
  expect(request).toMatchObject({ schedule: name, status: 'pending' });
  const shown = await get(name);
  expect(shown).toMatchObject({ enabled: false, firings_count: 1, last_firing: { work_request_id: request.id, reason: 'manual', status: 'pending' } });

  expect((await server.request('DELETE', `/api/v1/schedules/${name}`, { token: server.clientToken })).status).toBe(204);
  expect((await server.request('GET', `/api/v1/schedules/${name}`, { token: server.clientToken })).status).toBe(404);
  expect((await server.request('DELETE', `/api/v1/schedules/${name}`, { token: server.clientToken })).status).toBe(404);
  expect((await action(name, 'trigger')).status).toBe(404);
  expect((await server.getWorkRequest(request.id)).schedule).toBe(name);
  expect(await firingsOf(name)).toEqual([]);
});

test('the same definition again answers 200 with the existing schedule; another one under the name is a 409', async () => {
  const body = schedule({ trigger: { cron: '*/5 * * * *', timezone: 'Europe/Paris' } });
  const first = expectStatus(await post(body), 201, 'create').body;
  const again = expectStatus(await post(body), 200, 'create again').body;
  expect(again.created_at).toBe(first.created_at);
  const other = await post({ ...body, trigger: { cron: '*/10 * * * *', timezone: 'Europe/Paris' } });
  expect(other.status).toBe(409);
  expect(other.body.error?.code).toBe('schedule_exists');
  const listed = expectStatus(await server.request<{ schedules: Schedule[] }>('GET', '/api/v1/schedules', { token: server.clientToken }), 200, 'list').body;
  expect(listed.schedules.filter((item) => item.name === body.name)).toHaveLength(1);
  const names = listed.schedules.map((item) => item.name);
  expect(names).toEqual([...names].sort());
});
