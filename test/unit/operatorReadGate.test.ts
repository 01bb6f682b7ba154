/** The dashboard's read routes queue behind a small limit, in order; worker routes are never in the gated set. */
import { API_ROUTES, type RouteName } from '../../protocol/routes';
import { OPERATOR_READ_ROUTES, OperatorReadGate, WORKER_ACTIVITY_ROUTES, WORKERS_ACTIVE_FOR_MS } from '../../server/routes/operatorReadGate';

const open = () => new AbortController().signal;

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => undefined as void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

/** Four calls through the gate, each running until its release; `started` records the order they began in. */
function queueFourCalls(gate: OperatorReadGate) {
  const started: number[] = [];
  const releases = [deferred(), deferred(), deferred(), deferred()];
  const calls = releases.map((release, index) =>
    gate.run(open(), async () => {
      started.push(index);
      await release.promise;
      return index;
    }),
  );
  return { started, releases, calls };
}

test('at most `limit` calls run at once; the others start in arrival order as slots free', async () => {
  const gate = new OperatorReadGate(2);
  const { started, releases, calls } = queueFourCalls(gate);
  await new Promise((resolve) => setImmediate(resolve));
  expect(started).toEqual([0, 1]);
  releases[1].resolve();
  await calls[1];
  await new Promise((resolve) => setImmediate(resolve));
  expect(started).toEqual([0, 1, 2]);
  releases[0].resolve();
  releases[2].resolve();
  releases[3].resolve();
  expect(await Promise.all(calls)).toEqual([0, 1, 2, 3]);
});

test('a call whose client left while it queued does not run, and frees its slot', async () => {
  const gate = new OperatorReadGate(1);
  const first = deferred();
  const running = gate.run(open(), () => first.promise);
  const gone = new AbortController();
  let ranGone = false;
  const queued = gate.run(gone.signal, () => {
    ranGone = true;
    return Promise.resolve();
  });
  const after = gate.run(open(), () => Promise.resolve('ran'));
  gone.abort();
  first.resolve();
  await running;
  expect(await queued).toBeUndefined();
  expect(ranGone).toBe(false);
  expect(await after).toBe('ran');
});

test('a failing call frees its slot', async () => {
  const gate = new OperatorReadGate(1);
  await expect(gate.run(open(), () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  expect(await gate.run(open(), () => Promise.resolve(1))).toBe(1);
});

test('worker routes are not gated', () => {
  const workerRoutes: RouteName[] = ['registerWorker', 'heartbeat', 'claim', 'completeBatch', 'completeWorkRequest', 'releaseWorkRequest', 'postLogs', 'getLogs'];
  for (const name of workerRoutes) expect({ name, gated: OPERATOR_READ_ROUTES.has(name) }).toEqual({ name, gated: false });
  for (const name of OPERATOR_READ_ROUTES) expect({ name, method: API_ROUTES[name].method }).toEqual({ name, method: 'get' });
});

test('while workers are active the gate runs one read at a time, and widens again once they have been quiet for WORKERS_ACTIVE_FOR_MS', async () => {
  let now = 10_000;
  const gate = new OperatorReadGate(3, { now: () => now });
  expect(gate.currentLimit).toBe(3);
  gate.workerCall();
  expect(gate.currentLimit).toBe(1);
  const { started, releases, calls } = queueFourCalls(gate);
  await new Promise((resolve) => setImmediate(resolve));
  expect(started).toEqual([0]);
  releases[0].resolve();
  await calls[0];
  await new Promise((resolve) => setImmediate(resolve));
  expect(started).toEqual([0, 1]);
  // Quiet workers: the next release lets as many queued reads start as the full limit allows.
  now += WORKERS_ACTIVE_FOR_MS;
  expect(gate.currentLimit).toBe(3);
  releases[1].resolve();
  await calls[1];
  await new Promise((resolve) => setImmediate(resolve));
  expect(started).toEqual([0, 1, 2, 3]);
  releases[2].resolve();
  releases[3].resolve();
  expect(await Promise.all(calls)).toEqual([0, 1, 2, 3]);
});

test('reads already running when workers become active finish; new ones wait until the running count is under the narrow limit', async () => {
  let now = 0;
  const gate = new OperatorReadGate(2, { now: () => now });
  const releases = [deferred(), deferred(), deferred()];
  const started: number[] = [];
  const calls = releases.map((release, index) =>
    gate.run(open(), async () => {
      started.push(index);
      await release.promise;
    }),
  );
  await new Promise((resolve) => setImmediate(resolve));
  expect(started).toEqual([0, 1]);
  now = 5_000;
  gate.workerCall();
  releases[0].resolve();
  await calls[0];
  await new Promise((resolve) => setImmediate(resolve));
  // One still runs: the narrow limit (1) is reached, the third waits.
  expect(started).toEqual([0, 1]);
  releases[1].resolve();
  await calls[1];
  await new Promise((resolve) => setImmediate(resolve));
  expect(started).toEqual([0, 1, 2]);
  releases[2].resolve();
  await calls[2];
});

test('the activity routes are worker routes, and a heartbeat is not one of them', () => {
  for (const name of WORKER_ACTIVITY_ROUTES) expect({ name, role: API_ROUTES[name].role }).toEqual({ name, role: 'worker' });
  expect(WORKER_ACTIVITY_ROUTES.has('heartbeat')).toBe(false);
});
