import type { EffectiveRequirements } from './effectiveRequirements';
import { workerFits, type WorkerCapacity } from './unschedulableReason';

/** An online, enabled worker: what it can run and how many at once. */
export interface EstimateWorker {
  id: number;
  capacity: WorkerCapacity;
  concurrency: number;
}

/** A running request: the slot it holds frees after `remainingMs` (null: unknown, no history). */
export interface EstimateRunning {
  workerId: number;
  remainingMs: number | null;
}

/** A pending request, in claim order (effective priority, then age). */
export interface EstimatePending {
  needs: EffectiveRequirements;
  /** Epoch ms before which it is not claimed (retry back-off), or null. */
  notBeforeMs: number | null;
  /** How long it holds a slot, learned from history; null when there is none. */
  durationMs: number | null;
  /** No enabled worker can run it (work_request.unschedulable_reason). */
  unschedulable: boolean;
}

export type Estimate =
  | { kind: 'none'; why: 'unschedulable' | 'no_worker_online' }
  | {
      kind: 'estimated';
      startMs: number;
      endMs: number;
      /** Workers online that can run it. */
      workers: number;
      /** Its start rests on requests (running or ahead) of unknown duration, counted as the fallback. */
      guessedAhead: boolean;
    };

/**
 * Expected start and end of each pending request, by replaying the claim: requests in claim order each take the
 * earliest-free slot among the workers that can run it (a freed slot goes to the first request in claim order
 * that fits it, which is what the claim query does), holding it for their learned duration. Running requests
 * hold their slots for their expected remaining time. A request of unknown duration counts as `fallbackMs`.
 *
 * Workers with the same capacity share one min-heap of slot free times, so a request costs one heap operation
 * plus a look at the top of each worker class that fits it (real fleets have a handful of machine shapes).
 */
export function estimateStarts(
  nowMs: number,
  workers: EstimateWorker[],
  running: EstimateRunning[],
  pending: EstimatePending[],
  fallbackMs: number,
): Estimate[] {
  const classes = new Map<string, WorkerClass>();
  const classOfWorker = new Map<number, WorkerClass>();
  for (const worker of workers) {
    const signature = capacitySignature(worker.capacity);
    let workerClass = classes.get(signature);
    if (!workerClass) {
      workerClass = { capacity: worker.capacity, workers: 0, slots: new SlotHeap() };
      classes.set(signature, workerClass);
    }
    workerClass.workers += 1;
    classOfWorker.set(worker.id, workerClass);
  }
  const finishes = new Map<number, Array<{ at: number; guessed: boolean }>>();
  for (const item of running) {
    if (!classOfWorker.has(item.workerId)) continue;
    const list = finishes.get(item.workerId) ?? [];
    list.push({ at: nowMs + Math.max(0, item.remainingMs ?? fallbackMs), guessed: item.remainingMs === null });
    finishes.set(item.workerId, list);
  }
  for (const worker of workers) {
    const heap = classOfWorker.get(worker.id)!.slots;
    const held = (finishes.get(worker.id) ?? []).sort((a, b) => a.at - b.at);
    const slots = Math.max(0, worker.concurrency);
    // Over its concurrency (it was lowered): a slot frees only once enough running requests have ended.
    const kept = held.length >= slots ? held.slice(held.length - slots) : held;
    for (const slot of kept) heap.push(slot.at, slot.guessed);
    for (let free = kept.length; free < slots; free += 1) heap.push(nowMs, false);
  }

  // The classes that fit each set of needs, by signature, and by needs object: a caller that shares one object
  // among the requests with the same needs spares building a signature per request.
  const fittingBySignature = new Map<string, Fitting>();
  const fittingByNeeds = new Map<EffectiveRequirements, Fitting>();
  const allClasses = [...classes.values()];
  return pending.map((request): Estimate => {
    if (request.unschedulable) return { kind: 'none', why: 'unschedulable' };
    let fitting = fittingByNeeds.get(request.needs);
    if (!fitting) {
      const signature = needsSignature(request.needs);
      fitting = fittingBySignature.get(signature);
      if (!fitting) {
        const candidates = allClasses.filter((workerClass) => workerFits(workerClass.capacity, request.needs) && workerClass.slots.size > 0);
        fitting = { candidates, workers: candidates.reduce((sum, candidate) => sum + candidate.workers, 0) };
        fittingBySignature.set(signature, fitting);
      }
      fittingByNeeds.set(request.needs, fitting);
    }
    let best: WorkerClass | null = null;
    for (const candidate of fitting.candidates) if (best === null || candidate.slots.topTime() < best.slots.topTime()) best = candidate;
    if (best === null) return { kind: 'none', why: 'no_worker_online' };
    const guessedAhead = best.slots.topGuessed();
    const startMs = Math.max(best.slots.topTime(), nowMs, request.notBeforeMs ?? nowMs);
    const endMs = startMs + (request.durationMs ?? fallbackMs);
    best.slots.replaceTop(endMs, guessedAhead || request.durationMs === null);
    return { kind: 'estimated', startMs, endMs, workers: fitting.workers, guessedAhead };
  });
}

/** The worker classes a set of needs fits, and how many workers they hold. */
interface Fitting {
  candidates: WorkerClass[];
  workers: number;
}

interface WorkerClass {
  capacity: WorkerCapacity;
  workers: number;
  slots: SlotHeap;
}

function capacitySignature(capacity: WorkerCapacity): string {
  return `${capacity.totalMemory}|${capacity.availableDiskSpace}|${capacity.cpuCount}|${capacity.gpuCount}|${[...capacity.tags].sort().join(',')}`;
}

function needsSignature(needs: EffectiveRequirements): string {
  // Called once per pending request: no copy or sort for the usual empty tag list.
  const tags = needs.needTags.length === 0 ? '' : needs.needTags.length === 1 ? needs.needTags[0] : [...needs.needTags].sort().join(',');
  return `${needs.needMemory}|${needs.needDisk}|${needs.needCpu}|${needs.needGpu}|${tags}`;
}

/** A binary min-heap of slot free times, each with whether it rests on a guessed duration. */
class SlotHeap {
  private readonly times: number[] = [];
  private readonly guessed: boolean[] = [];

  get size(): number {
    return this.times.length;
  }

  topTime(): number {
    return this.times[0];
  }

  topGuessed(): boolean {
    return this.guessed[0];
  }

  push(time: number, guessed: boolean): void {
    this.times.push(time);
    this.guessed.push(guessed);
    let index = this.times.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (this.times[parent] <= this.times[index]) break;
      this.swap(index, parent);
      index = parent;
    }
  }

  /** The earliest slot is taken until `time`: replace it and sift down. */
  replaceTop(time: number, guessed: boolean): void {
    this.times[0] = time;
    this.guessed[0] = guessed;
    const size = this.times.length;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      const right = left + 1;
      let smallest = index;
      if (left < size && this.times[left] < this.times[smallest]) smallest = left;
      if (right < size && this.times[right] < this.times[smallest]) smallest = right;
      if (smallest === index) return;
      this.swap(index, smallest);
      index = smallest;
    }
  }

  private swap(a: number, b: number): void {
    const time = this.times[a];
    this.times[a] = this.times[b];
    this.times[b] = time;
    const guessed = this.guessed[a];
    this.guessed[a] = this.guessed[b];
    this.guessed[b] = guessed;
  }
}
