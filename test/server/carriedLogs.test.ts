/**
 * Log entries carried with reports (`logs` of a batch completion item or of a claim's results), over real HTTP
 * on a real database: stored before the report as POST .../logs stores them, idempotent by seq, capped, dropped
 * for a request that is not this worker's, and a bad entry is a 400 that writes nothing.
 */
import type { CompletionAnswer, CompletionItem } from '../../protocol/workerApi';
import type { LogEntry } from '../../protocol/workRequest';
import { expectStatus, startTestServer, type OrError, type SimWorker, type TestServer } from '../helpers/server';

const LOG_CAP = 64 * 1024;
let server: TestServer;
let tagCounter = 0;

beforeAll(async () => {
  server = await startTestServer({ logMaxBytes: LOG_CAP });
});

afterAll(async () => {
  await server?.close();
});

function isolation() {
  tagCounter += 1;
  const tag = `carried-logs-${tagCounter}`;
  return {
    register: (concurrency = 10) => server.registerWorker({ tags: [tag], concurrency }),
    create: () => server.createWorkRequest({ resources: { tags: [tag] } }),
  };
}

async function claimIds(worker: SimWorker, max: number): Promise<number[]> {
  return (await worker.claimOk({ max })).map((request) => request.id).sort((a, b) => a - b);
}

function entries(texts: string[], firstSeq = 0, stream: LogEntry['stream'] = 'stdout'): LogEntry[] {
  const ts = new Date().toISOString();
  return texts.map((text, index) => ({ seq: firstSeq + index, ts, stream, text }));
}

function completeBatch(worker: SimWorker, results: CompletionItem[]) {
  return worker.call<OrError<{ results: CompletionAnswer[] }>>('POST', '/api/v1/workers/complete', { results });
}

async function storedLog(id: number) {
  return server.sql<{ seq: number; stream: string; text: string }>(`select seq, stream, text from log_chunk where work_request_id = $1 order by seq`, [id]);
}

async function logAccounting(id: number) {
  return (await server.sql<{ log_bytes: string; log_truncated: boolean; status: string }>(`select log_bytes, log_truncated, status from work_request where id = $1`, [id]))[0];
}

test('a batch completion stores each report\'s carried entries after those posted earlier; the log reads as one', async () => {
  const { register, create } = isolation();
  const worker = await register();
  await create();
  await create();
  const [a, b] = await claimIds(worker, 2);
  expectStatus(await worker.postLogs(a, [{ seq: 0, text: 'posted while running\n' }]), 200, 'post logs');

  const answers = expectStatus(
    await completeBatch(worker, [
      { id: a, result: 'success', logs: entries(['carried 1\n', 'carried 2\n'], 1) },
      { id: b, result: 'failure', output_data: { errors: [{ code: 'exit_code', message: 'exited with code 3' }] }, logs: entries(['oops\n'], 0, 'stderr') },
    ]),
    200,
    'batch complete',
  ).body.results;
  expect(answers).toEqual([{ id: a, status: 200 }, { id: b, status: 200 }]);
  expect(await storedLog(a)).toEqual([
    { seq: 0, stream: 'stdout', text: 'posted while running\n' },
    { seq: 1, stream: 'stdout', text: 'carried 1\n' },
    { seq: 2, stream: 'stdout', text: 'carried 2\n' },
  ]);
  // Stored before the report: the server's own line about the failure comes after them.
  expect(await storedLog(b)).toEqual([
    { seq: 0, stream: 'stderr', text: 'oops\n' },
    { seq: 1, stream: 'system', text: expect.stringMatching(/^failure: exited with code 3; .*the failure is final$/) },
  ]);
  expect(await logAccounting(a)).toMatchObject({ status: 'completed', log_bytes: String('posted while running\ncarried 1\ncarried 2\n'.length), log_truncated: false });

  // What an operator reads: the route gives the same entries.
  const read = expectStatus(await server.request<{ entries: LogEntry[] }>('GET', `/api/v1/work-requests/${a}/logs`, { token: server.clientToken }), 200, 'read logs').body;
  expect(read.entries.map((entry) => entry.text).join('')).toBe('posted while running\ncarried 1\ncarried 2\n');

  // The same call again (a retry after a lost answer): answered 200, nothing stored twice.
  const again = expectStatus(await completeBatch(worker, [{ id: a, result: 'success', logs: entries(['carried 1\n', 'carried 2\n'], 1) }]), 200, 'repeat').body.results;
  expect(again).toEqual([{ id: a, status: 200 }]);
  expect(await storedLog(a)).toHaveLength(3);
  expect((await logAccounting(a)).log_bytes).toBe(String('posted while running\ncarried 1\ncarried 2\n'.length));
});

test('a claim carrying results with logs stores them and claims the freed slots', async () => {
  const { register, create } = isolation();
  const worker = await register(1);
  await create();
  const [running] = await claimIds(worker, 1);
  const next = await create();

  const answer = expectStatus(await worker.claim({ max: 1, results: [{ id: running, result: 'success', logs: entries(['done\n']) }] }), 200, 'claim').body as unknown as {
    work_requests: Array<{ id: number }>;
    results: CompletionAnswer[];
  };
  expect(answer.results).toEqual([{ id: running, status: 200 }]);
  expect(answer.work_requests.map((request) => request.id)).toEqual([next.id]);
  expect(await storedLog(running)).toEqual([{ seq: 0, stream: 'stdout', text: 'done\n' }]);
  expect(await logAccounting(running)).toMatchObject({ status: 'completed', log_bytes: '5' });
});

test('entries carried for another worker\'s request are dropped with its 409; the rest of the batch is stored', async () => {
  const { register, create } = isolation();
  const worker = await register();
  const other = await register();
  await create();
  const [mine] = await claimIds(worker, 1);
  await create();
  const [theirs] = await claimIds(other, 1);

  const answers = expectStatus(
    await completeBatch(worker, [
      { id: theirs, result: 'success', logs: entries(['not mine\n']) },
      { id: mine, result: 'success', logs: entries(['mine\n']) },
    ]),
    200,
    'batch complete',
  ).body.results;
  expect(answers).toEqual([{ id: theirs, status: 409, error: expect.objectContaining({ code: 'not_assigned' }) }, { id: mine, status: 200 }]);
  expect(await storedLog(theirs)).toEqual([]);
  expect(await logAccounting(theirs)).toMatchObject({ status: 'running', log_bytes: '0' });
  expect(await storedLog(mine)).toEqual([{ seq: 0, stream: 'stdout', text: 'mine\n' }]);
});

test('carried entries count against the log cap: the first past it is replaced by a note, and none come after', async () => {
  const { register, create } = isolation();
  const worker = await register();
  await create();
  const [id] = await claimIds(worker, 1);
  const chunk = 'x'.repeat(30 * 1024);
  expectStatus(await worker.postLogs(id, [{ seq: 0, text: chunk }]), 200, 'post logs');

  expectStatus(await completeBatch(worker, [{ id, result: 'success', logs: entries([chunk, chunk, 'after\n'], 1) }]), 200, 'batch complete');
  const stored = await storedLog(id);
  expect(stored.map((entry) => [entry.seq, entry.stream])).toEqual([[0, 'stdout'], [1, 'stdout'], [2, 'system']]);
  expect(stored[2].text).toMatch(/^log truncated: the stored log of a work request is capped at 64\.0 KiB; later output was dropped$/);
  // The note counts as stored bytes, as on POST .../logs.
  expect(await logAccounting(id)).toMatchObject({ log_bytes: String(2 * chunk.length + Buffer.byteLength(stored[2].text)), log_truncated: true });
});

test('a bad carried entry is a 400 naming it, and neither the logs nor the report are written', async () => {
  const { register, create } = isolation();
  const worker = await register();
  await create();
  const [id] = await claimIds(worker, 1);
  const bad = await worker.call<OrError<object>>('POST', '/api/v1/workers/complete', {
    results: [{ id, result: 'success', logs: [...entries(['fine\n']), { seq: -1, ts: new Date().toISOString(), stream: 'stdout', text: 'bad' }] }],
  });
  expect(bad.status).toBe(400);
  expect(bad.body.error?.issues).toEqual([expect.objectContaining({ path: 'results[0].logs[1].seq' })]);
  const tooMany = await worker.claim({ max: 1, results: [{ id, result: 'success', logs: entries(Array.from({ length: 1_001 }, () => 'x')) }] });
  expect(tooMany.status).toBe(400);
  expect((tooMany.body as OrError<object>).error?.issues).toEqual([expect.objectContaining({ path: 'results[0].logs' })]);
  expect(await storedLog(id)).toEqual([]);
  expect(await logAccounting(id)).toMatchObject({ status: 'running', log_bytes: '0' });
});
