/**
 * DatabaseNotifications across two server processes' listeners on one database: a pendingWork count wakes that
 * many waiters per process, and after-commit activity notifications reach followers on the other process. A
 * process alone on the database tells only itself, and sends again as soon as another listener appears.
 */
import { Client, type Notification } from 'pg';
import { createLogger } from '../../common/logger';
import { CHANNELS, DatabaseNotifications, LISTEN_APPLICATION_NAME } from '../../server/notifications';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { sleep } from '../helpers/server';
import { pollUntil } from '../helpers/waitFor';

let db: TestDatabase;
let replicas: DatabaseNotifications[] = [];
let observers: Client[] = [];
const logger = createLogger({ level: 'silent' });

async function startReplica(listenerCheckMs?: number): Promise<DatabaseNotifications> {
  const replica = new DatabaseNotifications(db.url, logger, undefined, listenerCheckMs);
  replicas.push(replica);
  await replica.start();
  return replica;
}

/** A plain session LISTENing to the after-commit channels under `applicationName`; collects what it hears. */
async function startObserver(applicationName: string): Promise<Notification[]> {
  const heard: Notification[] = [];
  const observer = new Client({ connectionString: db.url, application_name: applicationName });
  observers.push(observer);
  await observer.connect();
  observer.on('notification', (message) => heard.push(message));
  await observer.query(`LISTEN ${CHANNELS.pendingWork}; LISTEN ${CHANNELS.workRequestActivity}`);
  return heard;
}

beforeEach(async () => {
  db = await createTestDatabase();
  replicas = [];
  observers = [];
});

afterEach(async () => {
  for (const observer of observers) await observer.end().catch(() => undefined);
  for (const replica of replicas) await replica.close();
  await db?.drop();
});

async function startTwoReplicas(): Promise<DatabaseNotifications[]> {
  return [await startReplica(), await startReplica()];
}

test('a pendingWork count of 2 wakes the two oldest waiters of each process, not all of them', async () => {
  const [a, b] = await startTwoReplicas();
  const waits = [a, a, a, b, b, b].map((replica) => replica.subscribePendingWork(1).wait(3_000));
  b.publishPendingWork(2);
  const woken = await Promise.race([Promise.all(waits.filter((_, i) => i % 3 !== 2)), sleep(2_000).then(() => 'timeout')]);
  expect(woken).toEqual([true, true, true, true]);
  // The third waiter of each process sleeps on to its timeout.
  expect(await Promise.all([waits[2], waits[5]])).toEqual([false, false]);
});

test('a waiter that passes its wake-up on wakes the next one that has not tried it, never itself again', async () => {
  const [a] = await startTwoReplicas();
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
  const [a, b] = await startTwoReplicas();
  const followed = b.subscribe(CHANNELS.workRequestActivity, '42');
  const other = b.subscribe(CHANNELS.workRequestActivity, '7');
  a.publishActivity([41, 42, 43]);
  expect(await followed.wait(2_000)).toBe(true);
  expect(await other.wait(300)).toBe(false);
});

test('a process alone on the database wakes its own followers and claimers without sending; a session named as a listener makes it send', async () => {
  const a = await startReplica(100);
  expect(a.sendsNotifications).toBe(false);
  const unnamed = await startObserver('some-observer');

  const followed = a.subscribe(CHANNELS.workRequestActivity, '42');
  const claimer = a.subscribePendingWork(1);
  a.publishActivity([41, 42]);
  a.publishPendingWork(1);
  expect(await followed.wait(2_000)).toBe(true);
  expect(await claimer.wait(2_000)).toBe(true);
  await sleep(300);
  expect(unnamed).toEqual([]);

  // A session that names itself a listener is one: the next check sees it, and the notifications go out again.
  const named = await startObserver(`${LISTEN_APPLICATION_NAME}-observer`);
  await pollUntil(() => a.sendsNotifications, { description: 'the named observer to be seen', timeoutMs: 3_000 });
  a.publishActivity([43]);
  a.publishPendingWork(2);
  await pollUntil(() => named.length >= 2, { description: 'both notifications to reach the named observer', timeoutMs: 3_000 });
  expect(named.map((message) => [message.channel, message.payload]).sort()).toEqual([
    [CHANNELS.pendingWork, '2'],
    [CHANNELS.workRequestActivity, '43'],
  ]);
});

test('a replica that starts listening says hello: the lone process sends again before its next check', async () => {
  const a = await startReplica(600_000);
  expect(a.sendsNotifications).toBe(false);
  const b = await startReplica(600_000);
  expect(b.sendsNotifications).toBe(true); // its own first check saw the other
  await pollUntil(() => a.sendsNotifications, { description: "the hello to reach the first process", timeoutMs: 2_000 });

  const followed = b.subscribe(CHANNELS.workRequestActivity, '7');
  const claimer = b.subscribePendingWork(1);
  a.publishActivity([7]);
  a.publishPendingWork(1);
  expect(await followed.wait(2_000)).toBe(true);
  expect(await claimer.wait(2_000)).toBe(true);
});

test('when the other listener leaves, the next check finds the process alone again', async () => {
  const a = await startReplica(100);
  const b = await startReplica(100);
  expect([a.sendsNotifications, b.sendsNotifications]).toEqual([true, true]);
  await b.close();
  await pollUntil(() => !a.sendsNotifications, { description: 'the first process to see it is alone', timeoutMs: 3_000 });
});

test('closed while it is still connecting, a process leaves no LISTEN session behind', async () => {
  const replica = new DatabaseNotifications(db.url, logger);
  replicas.push(replica);
  const started = replica.start();
  await replica.close();
  await started;
  const inspector = new Client({ connectionString: db.url });
  observers.push(inspector);
  await inspector.connect();
  const sessions = async () =>
    Number((await inspector.query<{ n: string }>(`select count(*) as n from pg_stat_activity where datname = current_database() and application_name = $1`, [LISTEN_APPLICATION_NAME])).rows[0].n);
  await sleep(300);
  expect(await sessions()).toBe(0);
});
