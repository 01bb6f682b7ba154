import { formatBytes } from '../../protocol/units';
import type { EffectiveRequirements } from './effectiveRequirements';

export interface WorkerCapacity {
  totalMemory: number;
  availableDiskSpace: number;
  cpuCount: number;
  gpuCount: number;
  tags: string[];
}

/** The claim query's test, in JS: can this worker ever take a request with these needs? */
export function workerFits(worker: WorkerCapacity, needs: EffectiveRequirements): boolean {
  return (
    (needs.needMemory ?? 0) <= worker.totalMemory &&
    (needs.needDisk ?? 0) <= worker.availableDiskSpace &&
    (needs.needCpu ?? 0) <= worker.cpuCount &&
    (needs.needGpu ?? 0) <= worker.gpuCount &&
    needs.needTags.every((tag) => worker.tags.includes(tag))
  );
}

/**
 * Why no enabled worker can run a request with these needs ("needs 64.0 GiB memory; the largest worker has
 * 16.0 GiB"), or null when one can.
 */
export function unschedulableReason(needs: EffectiveRequirements, workers: WorkerCapacity[]): string | null {
  if (workers.length === 0) return 'waiting for a worker: no enabled worker is registered';
  if (workers.some((worker) => workerFits(worker, needs))) return null;
  const max = (pick: (worker: WorkerCapacity) => number) => Math.max(...workers.map(pick));
  const parts: string[] = [];
  if (needs.needMemory !== null && needs.needMemory > max((w) => w.totalMemory)) {
    parts.push(`needs ${formatBytes(needs.needMemory)} memory; the largest worker has ${formatBytes(max((w) => w.totalMemory))}`);
  }
  if (needs.needDisk !== null && needs.needDisk > max((w) => w.availableDiskSpace)) {
    parts.push(`needs ${formatBytes(needs.needDisk)} free disk; the most any worker has is ${formatBytes(max((w) => w.availableDiskSpace))}`);
  }
  if (needs.needCpu !== null && needs.needCpu > max((w) => w.cpuCount)) {
    parts.push(`needs ${needs.needCpu} cpus; the largest worker has ${max((w) => w.cpuCount)}`);
  }
  if (needs.needGpu !== null && needs.needGpu > max((w) => w.gpuCount)) {
    parts.push(`needs ${needs.needGpu} gpus; the most any worker has is ${max((w) => w.gpuCount)}`);
  }
  if (needs.needTags.length > 0 && !workers.some((w) => needs.needTags.every((tag) => w.tags.includes(tag)))) {
    parts.push(`needs tags ${needs.needTags.join(', ')}; no worker has all of them`);
  }
  if (parts.length === 0) parts.push('no single worker meets all its requirements at once');
  return `cannot run on any registered worker: ${parts.join('; ')}`;
}
