/** The dashboard's read routes queue behind a small limit, in order; worker routes are never in the gated set. */
import { API_ROUTES, type RouteName } from '../../protocol/routes';
import { OPERATOR_READ_ROUTES, OperatorReadGate } from '../../server/routes/operatorReadGate';

const open = () => new AbortController().signal;

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => undefined as void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

test('at most `limit` calls run at once; the others start in arrival order as slots free', async () => {
  const gate = new OperatorReadGate(2);
  const started: number[] = [];
  const releases = [deferred(), deferred(), deferred(), deferred()];
  const calls = releases.map((release, index) =>
    gate.run(open(), async () => {
      started.push(index);
      await release.promise;
      return index;
    }),
  );
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
