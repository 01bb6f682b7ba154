/**
 * unschedulableReason: the words an operator reads on a pending request nobody can run. A pure function of the
 * request's effective needs and the enabled workers' capacities; null as soon as one worker fits everything.
 */
import type { EffectiveRequirements as Needs } from '../../server/scheduler/effectiveRequirements';
import { unschedulableReason, workerFits, type WorkerCapacity } from '../../server/scheduler/unschedulableReason';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

const none: Needs = { needMemory: null, needDisk: null, needCpu: null, needGpu: null, needTags: [] };
const needs = (overrides: Partial<Needs>): Needs => ({ ...none, ...overrides });

const small: WorkerCapacity = { totalMemory: 4 * GiB, availableDiskSpace: 20 * GiB, cpuCount: 2, gpuCount: 0, tags: ['linux'] };
const big: WorkerCapacity = { totalMemory: 16 * GiB, availableDiskSpace: 100 * GiB, cpuCount: 8, gpuCount: 1, tags: ['linux', 'amd64'] };
const gpuBox: WorkerCapacity = { totalMemory: 8 * GiB, availableDiskSpace: 500 * GiB, cpuCount: 32, gpuCount: 4, tags: ['cuda'] };

describe('unschedulableReason', () => {
  test('no enabled worker at all: says that no worker is registered, whatever the needs', () => {
    expect(unschedulableReason(none, [])).toBe('waiting for a worker: no enabled worker is registered');
    expect(unschedulableReason(needs({ needMemory: 1 }), [])).toMatch(/no enabled worker is registered/);
  });

  test('null when at least one worker fits (exactly equal capacity fits too)', () => {
    expect(unschedulableReason(none, [small])).toBeNull();
    expect(unschedulableReason(needs({ needMemory: 16 * GiB, needDisk: 100 * GiB, needCpu: 8, needGpu: 1, needTags: ['amd64'] }), [small, big])).toBeNull();
  });

  test('memory: names what it needs and what the largest worker has', () => {
    const reason = unschedulableReason(needs({ needMemory: 64 * GiB }), [small, big]);
    expect(reason).toBe('cannot run on any registered worker: needs 64.0 GiB memory; the largest worker has 16.0 GiB');
  });

  test('memory one byte over the largest worker is unschedulable', () => {
    expect(unschedulableReason(needs({ needMemory: 16 * GiB + 1 }), [small, big])).toMatch(/needs 16\.0 GiB memory; the largest worker has 16\.0 GiB/);
  });

  test('disk: compared with the most free disk any worker has', () => {
    const reason = unschedulableReason(needs({ needDisk: 600 * GiB }), [small, big, gpuBox]);
    expect(reason).toBe('cannot run on any registered worker: needs 600.0 GiB free disk; the most any worker has is 500.0 GiB');
  });

  test('cpu', () => {
    expect(unschedulableReason(needs({ needCpu: 64 }), [small, big, gpuBox])).toBe(
      'cannot run on any registered worker: needs 64 cpus; the largest worker has 32',
    );
  });

  test('gpu', () => {
    expect(unschedulableReason(needs({ needGpu: 2 }), [small, big])).toBe('cannot run on any registered worker: needs 2 gpus; the most any worker has is 1');
  });

  test('tags: no worker carries all of them (each tag exists somewhere, but not together)', () => {
    expect(unschedulableReason(needs({ needTags: ['amd64', 'cuda'] }), [small, big, gpuBox])).toBe(
      'cannot run on any registered worker: needs tags amd64, cuda; no worker has all of them',
    );
    expect(unschedulableReason(needs({ needTags: ['windows'] }), [small])).toMatch(/needs tags windows; no worker has all of them/);
  });

  test('several resources short at once: every shortfall is listed', () => {
    const reason = unschedulableReason(needs({ needMemory: 64 * GiB, needCpu: 100 }), [small, big]);
    expect(reason).toBe('cannot run on any registered worker: needs 64.0 GiB memory; the largest worker has 16.0 GiB; needs 100 cpus; the largest worker has 8');
  });

  test('"no single worker": each need is met by some worker, but no worker meets them all', () => {
    // 12 GiB memory: only `big` has it; 200 GiB disk: only `gpuBox` has it.
    const reason = unschedulableReason(needs({ needMemory: 12 * GiB, needDisk: 200 * GiB }), [small, big, gpuBox]);
    expect(reason).toBe('cannot run on any registered worker: no single worker meets all its requirements at once');
  });

  test('workerFits is the claim test: every need at most the capacity, all tags present', () => {
    expect(workerFits(big, needs({ needMemory: 16 * GiB, needDisk: 100 * GiB, needCpu: 8, needGpu: 1, needTags: ['linux', 'amd64'] }))).toBe(true);
    expect(workerFits(big, needs({ needGpu: 2 }))).toBe(false);
    expect(workerFits(small, needs({ needTags: ['amd64'] }))).toBe(false);
    expect(workerFits(small, none)).toBe(true);
  });
});
