/** The claim replay behind expected starts (server/scheduler/estimateStarts.ts), on hand-computed cases. */
import { estimateStarts, type EstimatePending, type EstimateWorker } from '../../server/scheduler/estimateStarts';

const GiB = 1024 ** 3;
const worker = (id: number, totalMemory: number, concurrency = 1, tags: string[] = []): EstimateWorker => ({
  id,
  concurrency,
  capacity: { totalMemory, availableDiskSpace: 100 * GiB, cpuCount: 4, gpuCount: 0, tags },
});
const request = (durationMs: number | null, needMemory: number | null = null, extra: Partial<EstimatePending> = {}): EstimatePending => ({
  needs: { needMemory, needDisk: null, needCpu: null, needGpu: null, needTags: [] },
  notBeforeMs: null,
  durationMs,
  unschedulable: false,
  ...extra,
});
const starts = (estimates: ReturnType<typeof estimateStarts>) => estimates.map((item) => (item.kind === 'estimated' ? item.startMs : item.why));

test('one worker: each starts when the ones ahead have ended, the first when the running one ends', () => {
  const estimates = estimateStarts(1000, [worker(1, 8 * GiB)], [{ workerId: 1, remainingMs: 500 }], [request(100), request(200), request(300)], 60_000);
  expect(starts(estimates)).toEqual([1500, 1600, 1800]);
  expect(estimates[2]).toMatchObject({ endMs: 2100, workers: 1, guessedAhead: false });
});

test('two slots share the queue; a request that only the big worker fits waits for it', () => {
  const estimates = estimateStarts(0, [worker(1, 8 * GiB, 2), worker(2, 64 * GiB)], [], [request(1000, 32 * GiB), request(100), request(100), request(100), request(500, 32 * GiB)], 60_000);
  // big: 0 → 1000 (first), then the fifth at 1000; small slots take the three short ones at 0, 0, 100.
  expect(starts(estimates)).toEqual([0, 0, 0, 100, 1000]);
  expect(estimates[4]).toMatchObject({ workers: 1 });
});

test('unknown durations count as the fallback and mark what rests on them; unschedulable and unplaceable get none', () => {
  const estimates = estimateStarts(
    0,
    [worker(1, 8 * GiB)],
    [{ workerId: 1, remainingMs: null }],
    [request(100), request(null), request(100), request(100, 16 * GiB), request(100, null, { unschedulable: true })],
    1000,
  );
  expect(starts(estimates)).toEqual([1000, 1100, 2100, 'no_worker_online', 'unschedulable']);
  expect(estimates.map((item) => item.kind === 'estimated' && item.guessedAhead)).toEqual([true, true, true, false, false]);
});

test('a retry back-off delays its start; a worker over its concurrency frees a slot only when enough have ended', () => {
  const estimates = estimateStarts(
    0,
    [worker(1, 8 * GiB, 1)],
    [{ workerId: 1, remainingMs: 100 }, { workerId: 1, remainingMs: 300 }],
    [request(100, null, { notBeforeMs: 200 }), request(100)],
    1000,
  );
  // Two running on one slot: the slot frees when the second ends (300), not the first (100).
  expect(starts(estimates)).toEqual([300, 400]);
  expect(starts(estimateStarts(0, [worker(1, 8 * GiB)], [], [request(100, null, { notBeforeMs: 5000 })], 1000))).toEqual([5000]);
});
