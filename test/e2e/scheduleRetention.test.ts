/**
 * Firing history retention (WORKSCHED_SCHEDULE_FIRING_RETENTION, …_DAYS), run by housekeeping, with a real
 * worker: a schedule keeps its newest firings, never loses its last firing nor one whose work has not ended
 * (so overlap: skip still waits for a running workflow), and pruned keys never fire again.
 */
import { Client } from 'pg';
import { withClient } from '../../common/withClient';
import { ADVISORY_LOCKS } from '../../server/housekeeping/advisoryLock';
import type { Schedule } from '../../protocol/schedules';
import { pollUntil } from '../helpers/waitFor';
import { cleanup, shellTask, sleep, startE2EServer, startWorker, task, uniqueName, withProcessLogs, type E2EServer } from './support';

jest.setTimeout(120_000);

let kept: E2EServer;
let aged: E2EServer;

beforeAll(async () => {
  kept = await startE2EServer({ settings: { scheduleFiringRetention: 3 } });
  // Firings older than 4 s go, whatever their number.
  aged = await startE2EServer({ settings: { scheduleFiringRetention: 1000, scheduleFiringRetentionDays: 4 / 86_400 } });
});

afterAll(async () => {
  await cleanup(kept, aged);
});

/** A schedule's stored firings, oldest first. */
const firingRows = (server: E2EServer, name: string) =>
  withClient(server.db.url, async (client) =>
    (await client.query<{ fire_time: Date; workflow_id: string | null }>(
      `select f.fire_time, f.workflow_id from schedule_firing f join schedule s on s.id = f.schedule_id where s.name = $1 order by f.id`,
      [name],
    )).rows,
  );

/**
 * Holds the firing-retention job's advisory lock in a session of its own until `release()`: housekeeping's own
 * pass (every 10 minutes, at second 47) cannot prune while the test counts firings before its explicit prune.
 */
async function holdRetentionLock(server: E2EServer): Promise<{ release: () => Promise<void> }> {
  const client = new Client({ connectionString: server.db.url });
  await client.connect();
  await client.query('select pg_advisory_lock($1)', [ADVISORY_LOCKS.scheduleFiringRetention]);
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      await client.query('select pg_advisory_unlock($1)', [ADVISORY_LOCKS.scheduleFiringRetention]).finally(() => client.end());
    },
  };
}

test(
  'keeps the newest N firings of each schedule; the pruned fire times never fire again',
  withProcessLogs(async () => {
    const worker = await startWorker(kept, { concurrency: 2 });
    let retentionLock = await holdRetentionLock(kept);
    try {
      const name = uniqueName('every');
      await kept.client.createSchedule({ name, trigger: { every: '1s' }, overlap: 'allow', spec: task('/bin/true') });
      await pollUntil(() => kept.client.getSchedule(name), { description: 'eight firings', until: (value) => value.firings_count >= 8, timeoutMs: 40_000 });
      await kept.client.pauseSchedule(name);
      const work = await pollUntil(async () => (await kept.client.listWorkRequests({ schedule: name, limit: 500 })).work_requests, {
        description: 'their work to end',
        until: (list) => list.length >= 8 && list.every((item) => item.status === 'completed'),
      });
      const before = await firingRows(kept, name);
      expect(before.length).toBe(work.length);

      await retentionLock.release();
      const deleted = await kept.running.housekeeping.pruneScheduleFiringsOnce();
      retentionLock = await holdRetentionLock(kept);
      expect(deleted).toBeGreaterThanOrEqual(before.length - 3);
      const after = await firingRows(kept, name);
      expect(after).toEqual(before.slice(-3));
      const shown = await kept.client.getSchedule(name);
      expect(shown).toMatchObject({ firings_count: before.length, last_firing: { fire_time: before.at(-1)!.fire_time.toISOString(), status: 'completed', result: 'success' } });

      // Going on after the prune: each fire time still fires once (one request per firing, no time twice).
      await kept.client.resumeSchedule(name);
      await pollUntil(() => kept.client.getSchedule(name), { description: 'three more firings', until: (value) => value.firings_count >= before.length + 3, timeoutMs: 30_000 });
      await kept.client.pauseSchedule(name);
      const total = (await kept.client.getSchedule(name)).firings_count;
      expect((await kept.client.listWorkRequests({ schedule: name, limit: 500 })).work_requests).toHaveLength(total);
      const pruned = new Set(before.slice(0, -3).map((row) => row.fire_time.getTime()));
      const later = (await firingRows(kept, name)).slice(3);
      expect(later.length).toBe(total - before.length);
      expect(later.filter((row) => pruned.has(row.fire_time.getTime()) || row.fire_time <= before.at(-1)!.fire_time)).toEqual([]);
    } finally {
      await retentionLock.release();
      // Else the next test's workflow would find a live worker.
      worker.killGroup();
    }
  }),
);

test('a firing whose workflow still runs is kept, and overlap: skip goes on waiting for it', async () => {
  // No live worker: the first firing's workflow stays RUNNING, and overlap: skip skips the times after it.
  const retentionLock = await holdRetentionLock(kept);
  const name = uniqueName('busy');
  await kept.client.createSchedule({ name, trigger: { every: '1s' }, workflow: { tasks: [{ ...shellTask('true'), task_id: 'only' }] } });
  const first = await pollUntil(() => kept.client.getSchedule(name), { description: 'the first firing', until: (value: Schedule) => value.firings_count === 1 });
  const running = first.last_firing!.workflow_id!;
  // Four more by hand (trigger ignores overlap), canceled: ended work, which retention may delete.
  for (let index = 0; index < 4; index += 1) {
    const { firings: [manual] } = await kept.client.triggerSchedule(name);
    await kept.client.cancelWorkflow(manual.workflow_id!);
  }
  const before = await firingRows(kept, name);
  expect(before.map((row) => row.workflow_id)[0]).toBe(running);
  // (The count it answers includes the other tests' schedules.)
  await retentionLock.release();
  expect(await kept.running.housekeeping.pruneScheduleFiringsOnce()).toBeGreaterThanOrEqual(1);
  // Kept: the newest three, and the oldest one, whose workflow runs.
  expect((await firingRows(kept, name)).map((row) => row.workflow_id)).toEqual([running, ...before.slice(2).map((row) => row.workflow_id)]);
  const skipping = (await kept.client.getSchedule(name)).skipped_count;
  const later = await pollUntil(() => kept.client.getSchedule(name), { description: 'more skipped fire times', until: (value: Schedule) => value.skipped_count >= skipping + 2 });
  expect(later.firings_count).toBe(5);
  await kept.client.deleteSchedule(name);
});

test(
  'firings older than WORKSCHED_SCHEDULE_FIRING_RETENTION_DAYS go, the newest one excepted',
  withProcessLogs(async () => {
    const worker = await startWorker(aged, { concurrency: 2 });
    const name = uniqueName('aged');
    await aged.client.createSchedule({ name, trigger: { every: '1h' }, spec: task('/bin/true') });
    for (let index = 0; index < 3; index += 1) await aged.client.triggerSchedule(name);
    await pollUntil(async () => (await aged.client.listWorkRequests({ schedule: name })).work_requests, {
      description: 'the three to end',
      until: (list) => list.length === 3 && list.every((item) => item.status === 'completed'),
    });
    expect(await aged.running.housekeeping.pruneScheduleFiringsOnce()).toBe(0);
    await sleep(4_500);
    await aged.running.housekeeping.pruneScheduleFiringsOnce();
    const left = await firingRows(aged, name);
    expect(left).toHaveLength(1);
    expect((await aged.client.getSchedule(name)).last_firing?.fire_time).toBe(left[0].fire_time.toISOString());
    worker.killGroup();
  }),
);
