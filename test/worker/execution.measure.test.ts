import { detectMeasurementMethod } from '../../worker/execution';
import { isRoot, testIf } from '../helpers/capabilities';
import { makeRequest, MiB, NODE, python3, removeWorkRoots, run, timeMaxRss } from './helpers';

jest.setTimeout(60_000);
afterAll(removeWorkRoots);

const PYTHON = python3();
const allocate = (seconds: number) => ['-c', `b = bytearray(200 * 1024 * 1024); import time; time.sleep(${seconds})`];
/** Burns `ms` of cpu (not wall time: other load on the host must not change the figure). */
const burn = (ms: number) => ['-e', `for (;;) { const u = process.cpuUsage(); if (u.user + u.system >= ${ms * 1000}) break; }`];

describe('measurement (detected method)', () => {
  test('detectMeasurementMethod is cached and prefers cgroups where they can be created', async () => {
    const first = detectMeasurementMethod();
    expect(detectMeasurementMethod()).toBe(first);
    const method = await first;
    expect(['cgroup-v2', 'cgroup-v1', 'proc']).toContain(method);
  });

  // This project's CI hosts run as root with writable v1 memory/cpuacct (hybrid) or v2: never the fallback.
  testIf(isRoot, 'not running as root')('as root, the detected method is a cgroup one', async () => {
    expect(await detectMeasurementMethod()).not.toBe('proc');
  });

  test.each([
    ['2 s', 2],
    ['0.3 s', 0.3],
  ])('200 MiB held for %s: memory >= 200 MiB and within 10%% of time -v', async (_label, seconds) => {
    const reference = timeMaxRss(PYTHON, allocate(seconds));
    const { outcome } = await run(makeRequest({ executable: PYTHON, args: allocate(seconds) }));
    expect(outcome.result).toBe('success');
    const stats = outcome.output_data.runtime_statistics!;
    expect(stats.memory).toBeGreaterThanOrEqual(200 * MiB);
    expect(stats.memory).toBeLessThanOrEqual(reference * 1.1);
    expect(stats.duration).toBeGreaterThanOrEqual(Math.round(seconds));
    expect(stats.duration).toBeLessThanOrEqual(Math.round(seconds) + 2); // generous: the host may be busy
    expect(stats.duration_ms).toBeGreaterThanOrEqual(seconds * 1000);
  });

  test('a 2 s cpu burn reports cpu_time 2 (±1)', async () => {
    const { outcome } = await run(makeRequest({ executable: NODE, args: burn(2000) }));
    expect(outcome.result).toBe('success');
    const stats = outcome.output_data.runtime_statistics!;
    expect(stats.cpu_time).toBeGreaterThanOrEqual(1);
    expect(stats.cpu_time).toBeLessThanOrEqual(3);
    expect(stats.cpu_time_ms).toBeGreaterThanOrEqual(1800);
      });

  test('50 MiB written into the work dir: disk_space >= 50 MiB', async () => {
    const { outcome } = await run(makeRequest({ executable: 'sh', args: ['-c', 'head -c 52428800 /dev/urandom > big.bin && mkdir sub && ln -s big.bin sub/link'] }));
    expect(outcome.result).toBe('success');
    const disk = outcome.output_data.runtime_statistics!.disk_space!;
    expect(disk).toBeGreaterThanOrEqual(50 * MiB);
    expect(disk).toBeLessThan(52 * MiB); // the symlink is not followed
  });

  test('disk peak is sampled while the task runs (a file deleted before the end still counts)', async () => {
    const { outcome } = await run(makeRequest({ executable: 'sh', args: ['-c', 'head -c 52428800 /dev/urandom > big.bin && sleep 1 && rm big.bin'] }));
    expect(outcome.result).toBe('success');
    expect(outcome.output_data.runtime_statistics!.disk_space).toBeGreaterThanOrEqual(50 * MiB);
  });
});
