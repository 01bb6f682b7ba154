import { spawnSync } from 'child_process';
import { existsSync, readdirSync } from 'fs';
import { getCgroupSetup } from '../../worker/execution/cgroupDetect';
import { WRAPPER_NAME, wrapperFailure } from '../../worker/execution/spawnChild';
import { hasWritableCgroup2, measurementMethod, testIf, testWithCgroups } from '../helpers/capabilities';
import { makeRequest, MiB, NODE, processesOf, python3, removeWorkRoots, run, timeMaxRss } from './helpers';

jest.setTimeout(60_000);
afterAll(removeWorkRoots);

const PYTHON = python3();
const allocate = ['-c', 'b = bytearray(200 * 1024 * 1024); import time; time.sleep(2)'];
/** Burns 2 s of cpu (not wall time: other load on the host must not change the figure). */
const burn = ['-e', 'for (;;) { const u = process.cpuUsage(); if (u.user + u.system >= 2e6) break; }'];

describe("forced 'proc' fallback (/proc sampling)", () => {
  const proc = { measurementMethod: 'proc' as const };

  test('200 MiB for 2 s: memory >= 200 MiB and within 10% of time -v, duration ~2', async () => {
    const reference = timeMaxRss(PYTHON, allocate);
    const { outcome, system } = await run(makeRequest({ executable: PYTHON, args: allocate }), proc);
    expect(outcome.result).toBe('success');
    const stats = outcome.output_data.runtime_statistics!;
    expect(stats.measurement).toBe('proc');
    expect(system).toMatch(/measurement: proc/);
    expect(stats.memory).toBeGreaterThanOrEqual(200 * MiB);
    expect(stats.memory).toBeLessThanOrEqual(reference * 1.1);
    expect(stats.duration).toBeGreaterThanOrEqual(2);
    expect(stats.duration).toBeLessThanOrEqual(4); // generous: the host may be busy
  });

  test('a 2 s cpu burn: cpu_time 2 (±1)', async () => {
    const { outcome } = await run(makeRequest({ executable: NODE, args: burn }), proc);
    const stats = outcome.output_data.runtime_statistics!;
    expect(stats.measurement).toBe('proc');
    expect(stats.cpu_time).toBeGreaterThanOrEqual(1);
    expect(stats.cpu_time).toBeLessThanOrEqual(3);
  });

  test('cpu of children reaped by the task is counted (cutime)', async () => {
    const script = `"${NODE}" ${burn.map((arg) => `'${arg}'`).join(' ')}; sleep 0.3`;
    const { outcome } = await run(makeRequest({ executable: 'sh', args: ['-c', script] }), proc);
    expect(outcome.output_data.runtime_statistics!.cpu_time_ms).toBeGreaterThanOrEqual(1500);
  });

  test('a setsid-detached grandchild is still found and killed', async () => {
    const request = makeRequest({ executable: 'sh', args: ['-c', 'setsid sleep 300 & sleep 1'] });
    const { outcome } = await run(request, proc);
    expect(outcome.result).toBe('success');
    expect(processesOf(request.id)).toEqual([]);
  });

  test('time limit and missing executable behave the same without the wrapper shell', async () => {
    const limited = makeRequest({ executable: 'sleep', args: ['30'] }, { time_limit_s: 1 });
    const { outcome } = await run(limited, { ...proc, killGraceMs: 300 });
    expect(outcome.output_data.errors?.[0].code).toBe('time_limit_exceeded');
    const missing = await run(makeRequest({ executable: '/no/such/exe' }), proc);
    expect(missing.outcome.output_data.errors?.[0]).toMatchObject({ code: 'executable_not_found', message: expect.stringContaining('/no/such/exe') });
  });
});

describe('cgroups', () => {
  testWithCgroups('task cgroups are removed afterwards', async () => {
    const setup = getCgroupSetup(measurementMethod as 'cgroup-v2' | 'cgroup-v1')!;
    const request = makeRequest({ executable: 'sh', args: ['-c', 'sleep 0.2'] });
    const { outcome } = await run(request);
    expect(outcome.result).toBe('success');
    // The bases themselves are removed when no task runs (another jest worker may be using them meanwhile).
    for (const base of setup.bases) {
      const left = existsSync(base) ? readdirSync(base).filter((name) => name.startsWith(`wr-${request.id}-`)) : [];
      expect(left).toEqual([]);
    }
  });

  testWithCgroups('an OOM kill inside the task cgroup is failure out_of_memory (limit set only for this test)', async () => {
    const { outcome } = await run(makeRequest({ executable: PYTHON, args: ['-c', 'b = bytearray(400 * 1024 * 1024)'] }), { memoryLimitBytes: 100 * MiB });
    expect(outcome.result).toBe('failure');
    expect(outcome.output_data.errors?.[0]).toMatchObject({ code: 'out_of_memory' });
  });

  testIf(hasWritableCgroup2, 'no cgroup2 hierarchy the worker may create cgroups in')("forced 'cgroup-v2' uses the cgroup2 hierarchy where it is writable (cpu from cpu.stat)", async () => {
    const request = makeRequest({ executable: 'sh', args: ['-c', `setsid "${NODE}" ${burn.map((arg) => `'${arg}'`).join(' ')} & sleep 0.5; "${PYTHON}" -c 'b = bytearray(100 * 1024 * 1024); import time; time.sleep(0.3)'; wait`] });
    const { outcome } = await run(request, { measurementMethod: 'cgroup-v2' });
    expect(outcome.result).toBe('success');
    const stats = outcome.output_data.runtime_statistics!;
    expect(stats.measurement).toBe('cgroup-v2');
    expect(stats.cpu_time_ms).toBeGreaterThanOrEqual(1800); // the setsid grandchild's burn counted
    expect(stats.memory).toBeGreaterThanOrEqual(100 * MiB);
    expect(processesOf(request.id)).toEqual([]);
  });

  test("the wrapper shell's own exec failures are recognised by its message, a task's are not", () => {
    const dash = (file: string) => spawnSync('/bin/sh', ['-c', 'exec "$@"', WRAPPER_NAME, file], { encoding: 'utf8' });
    const missing = dash('/no/such/file');
    expect(wrapperFailure(missing.status, missing.stderr, '/no/such/file')).toMatchObject({ code: 'executable_not_found', message: expect.stringContaining('/no/such/file') });
    const denied = dash('/etc/passwd');
    expect(wrapperFailure(denied.status, denied.stderr, '/etc/passwd')).toMatchObject({ code: 'permission_denied', message: expect.stringContaining('/etc/passwd') });
    expect(wrapperFailure(127, 'bash: foo: command not found\n', '/bin/bash')).toBeUndefined();
    expect(wrapperFailure(1, missing.stderr, '/no/such/file')).toBeUndefined();
  });
});
