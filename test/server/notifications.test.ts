/**
 * DatabaseNotifications across two server processes' listeners on one database: a pendingWork count wakes that
 * many waiters per process, and after-commit activity notifications reach followers on the other process.
 */
import { createLogger } from '../../common/logger';
import { CHANNELS, DatabaseNotifications } from '../../server/notifications';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { sleep } from '../helpers/server';

let db: TestDatabase;
let replicas: DatabaseNotifications[] = [];

beforeEach(async () => {
  db = await createTestDatabase();
  const logger = createLogger({ level: 'silent' });
  replicas = [new DatabaseNotifications(db.url, logger), new DatabaseNotifications(db.url, logger)];
  for (const replica of replicas) await replica.start();
});

afterEach(async () => {
  for (const replica of replicas) await replica.close();
  await db?.drop();
});

test('a pendingWork count of 2 wakes the two oldest waiters of each process, not all of them', async () => {
  const [a, b] = replicas;
  const waits = [a, a, a, b, b, b].map((replica) => replica.subscribePendingWork(1).wait(3_000));
  b.publishPendingWork(2);
  const woken = await Promise.race([Promise.all(waits.filter((_, i) => i % 3 !== 2)), sleep(2_000).then(() => 'timeout')]);
  expect(woken).toEqual([true, true, true, true]);
  // The third waiter of each process sleeps on to its timeout.
  expect(await Promise.all([waits[2], waits[5]])).toEqual([false, false]);
});

test('a waiter that passes its wake-up on wakes the next one that has not tried it, never itself again', async () => {
  const [a] = replicas;
  const first = a.subscribePendingWork(1);
  const second = a.subscribePendingWork(1);
  a.publishPendingWork(1);
  expect(await first.wait(2_000)).toBe(true);
  const wakeUp = first.wokenBy();
  const again = a.subscribePendingWork(1, wakeUp); // the first claimer waits again after trying it
  a.passOnPendingWork(wakeUp, 1);
  expect(await second.wait(2_000)).toBe(true);
  expect(await again.wait(300)).toBe(false);
});

test('publishActivity after commit wakes followers of those ids on the other process only', async () => {
  const [a, b] = replicas;
  const followed = b.subscribe(CHANNELS.workRequestActivity, '42');
  const other = b.subscribe(CHANNELS.workRequestActivity, '7');
  a.publishActivity([41, 42, 43]);
  expect(await followed.wait(2_000)).toBe(true);
  expect(await other.wait(300)).toBe(false);
});
