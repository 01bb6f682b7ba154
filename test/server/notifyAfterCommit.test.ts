/**
 * The create, claim, completion and log paths NOTIFY after their commits, not inside their transactions (a
 * notifying transaction holds a database-wide lock until its commit is flushed, serialising such commits): every
 * notification they cause is sent by the server's LISTEN connection, never by a pool connection in the middle of
 * the work. Checked on a real database with our own LISTEN connection, which sees which backend sent each one.
 */
import { Client, type Notification } from 'pg';
import { CHANNELS, LISTEN_APPLICATION_NAME } from '../../server/notifications';
import type { WorkRequest } from '../../protocol/workRequest';
import { expectStatus, startTestServer, taskSpec, type TestServer } from '../helpers/server';
import { pollUntil } from '../helpers/waitFor';

let server: TestServer;
let listener: Client;
let received: Notification[] = [];

beforeAll(async () => {
  server = await startTestServer({ retryBaseDelayS: 0, retryMaxDelayS: 0 });
  // Named as a listener, and saying hello, as a replica does: a server alone on its database sends nothing.
  listener = new Client({ connectionString: server.db.url, application_name: `${LISTEN_APPLICATION_NAME}-test` });
  await listener.connect();
  listener.on('notification', (message) => received.push(message));
  await listener.query(`LISTEN ${CHANNELS.pendingWork}`);
  await listener.query(`LISTEN ${CHANNELS.workRequestActivity}`);
  await listener.query(`select pg_notify('${CHANNELS.listenerHello}', '')`);
});

afterAll(async () => {
  await listener?.end().catch(() => undefined);
  await server?.close();
});

/** The backend of the server's LISTEN connection: the only one allowed to send these notifications. */
async function listenBackend(): Promise<number> {
  const rows = await server.sql<{ pid: number }>(
    `select pid from pg_stat_activity where application_name = '${LISTEN_APPLICATION_NAME}' and datname = current_database()`,
  );
  expect(rows).toHaveLength(1);
  return rows[0].pid;
}

const activityIds = (messages: Notification[]) =>
  new Set(messages.filter((message) => message.channel === CHANNELS.workRequestActivity).flatMap((message) => (message.payload ?? '').split(',').map(Number)));
const pendingCount = (messages: Notification[]) =>
  messages.filter((message) => message.channel === CHANNELS.pendingWork).reduce((sum, message) => sum + Number(message.payload), 0);

test('creates, batch and single completions, retries and log entries notify from the LISTEN connection, after their commits', async () => {
  const pid = await listenBackend();
  const tag = 'after-commit';
  const worker = await server.registerWorker({ tags: [tag], concurrency: 10 });
  const spec = (extra: Record<string, unknown> = {}) => taskSpec({ resources: { tags: [tag] }, ...extra });
  received = [];

  // One create and a batch of three: four pending, in wake-ups that carry their counts.
  expectStatus(await server.request<WorkRequest>('POST', '/api/v1/work-requests', { token: server.clientToken, body: spec() }), 201, 'create');
  expectStatus(await server.request('POST', '/api/v1/work-requests/batch', { token: server.clientToken, body: { work_requests: [spec(), spec(), spec()] } }), 201, 'batch create');
  await pollUntil(() => pendingCount(received) >= 4, { description: 'four pending requests announced' });
  expect(pendingCount(received)).toBe(4);

  const [a, b, c, d] = (await worker.claimOk({ max: 4 })).map((request) => request.id);
  expectStatus(await worker.postLogs(a, [{ seq: 0, text: 'hello\n' }]), 200, 'logs');
  // A batch (the set-based path), a single success, and a claim carrying an error (the full path, with its retry decision).
  expectStatus(await worker.call('POST', '/api/v1/workers/complete', { results: [{ id: a, result: 'success' }, { id: b, result: 'skipped' }] }), 200, 'batch');
  expectStatus(await worker.complete(c), 200, 'complete');
  const claimed = expectStatus(
    await worker.call<{ results: Array<{ status: number }> }>('POST', '/api/v1/workers/claim', {
      max: 1,
      wait_s: 0,
      results: [{ id: d, result: 'error', output_data: { errors: [{ code: 'worker_lost', message: 'lost' }] } }],
    }),
    200,
    'claim with a result',
  );
  expect(claimed.body.results).toEqual([{ id: d, status: 200 }]);
  await pollUntil(() => [a, b, c, d].every((id) => activityIds(received).has(id)), { description: 'activity of every ended request' });

  expect(received.length).toBeGreaterThan(0);
  for (const message of received) expect({ channel: message.channel, from: message.processId }).toEqual({ channel: message.channel, from: pid });
});

test('a workflow task completed in a batch releases its dependant with a wake-up sent after the commit', async () => {
  const pid = await listenBackend();
  const tag = 'after-commit-workflow';
  const worker = await server.registerWorker({ tags: [tag], concurrency: 10 });
  const task = (id: string, dependsOn: string[] = []) => ({ ...taskSpec({ resources: { tags: [tag] } }), use_history: false, task_id: id, depends_on: dependsOn });
  expectStatus(
    await server.request('POST', '/api/v1/workflows', { token: server.clientToken, body: { workflow_id: 'after-commit-wf', tasks: [task('first'), task('second', ['first'])] } }),
    201,
    'workflow',
  );
  const [first] = await worker.claimOk({ max: 2 });
  received = [];
  expectStatus(await worker.call('POST', '/api/v1/workers/complete', { results: [{ id: first.id, result: 'success' }] }), 200, 'batch');
  await pollUntil(() => pendingCount(received) >= 1, { description: 'the released dependant announced' });
  expect(pendingCount(received)).toBe(1);
  for (const message of received) expect(message.processId).toBe(pid);
  expect(await worker.claimOk({ max: 2 })).toHaveLength(1);
});
