import type { EntityManager } from '@mikro-orm/postgresql';
import { rawQuery } from '../sql/rawQuery';
import { formatDuration } from '../../protocol/units';
import { durationKey, expectedDurations, type ExpectedDuration } from '../history/expectedDurations';
import type { HistoryKey } from '../history/historyKey';
import { TupleMap } from '../../common/tupleMap';
import type { EffectiveRequirements } from './effectiveRequirements';
import { readPendingForEstimates } from '../sql/pendingForEstimates';
import { readStoredChunks, storedIndex, storedTime, writeEstimates, type EstimateWrite } from '../sql/estimateChunks';
import { estimateStarts, type Estimate, type EstimatePending, type EstimateRunning, type EstimateWorker } from './estimateStarts';

/** Assumed for a task with no history when no other task has any either. */
const DEFAULT_UNKNOWN_MS = 60_000;

interface RunningRow {
  id: string;
  worker_id: string;
  /** Epoch ms. */
  started_at: number | null;
  task_name: string;
  subject: string;
  context: string;
}

export interface EstimatesReport {
  pending: number;
  running: number;
  workers: number;
  written: number;
  /** Time spent reading, estimating and writing, ms. */
  readMs: number;
  computeMs: number;
  writeMs: number;
}

/**
 * The housekeeping pass behind `expected_start_at` / `expected_end_at` / `eta_reason`: reads the online workers,
 * the running requests and the pending ones in claim order, replays the claim with learned durations
 * (estimateStarts) and stores the estimates (work_request_eta_chunk). Only estimates that moved (by more than 1 s
 * and 5 % of the time until them) or whose wording changed are written, so a queue that goes as predicted costs
 * reads only.
 */
export async function refreshEstimates(em: EntityManager, options: { sampleRuns: number; now?: Date }): Promise<EstimatesReport> {
  const readStart = performance.now();
  const nowMs = (options.now ?? new Date()).getTime();
  // The one sort of the pass (100,000 narrow rows) stays in memory rather than spilling to a temp file.
  await rawQuery(em, `set local work_mem = '64MB'`);
  const workerRows = await rawQuery<{ id: string; total_memory: string; available_disk_space: string; cpu_count: number; gpu_count: number; tags: string[]; concurrency: number }>(
    em,
    `select id, total_memory, available_disk_space, cpu_count, gpu_count, tags, concurrency from worker where enabled and online`,
  );
  const runningRows = await rawQuery<RunningRow>(
    em,
    `select r.id, r.worker_id, extract(epoch from r.started_at)::float8 * 1000 as started_at, r.task_name, coalesce(r.subject, '') as subject,
       coalesce(r.context, '') as context
     from work_request r where r.status = 'running'`,
  );
  const pendingColumns = await readPendingForEstimates(em);
  const pendingCount = pendingColumns.count;
  const stored = await readStoredChunks(em, [...pendingColumns.ids, ...runningRows.map((row) => Number(row.id))]);
  // Each request's key as a number, and each distinct key once (thousands of requests share a key).
  const keys: HistoryKey[] = [];
  const keyNumbers = new TupleMap<[string, string, string], number>();
  const keyOf = (taskName: string, subject: string, context: string): number => {
    let number = keyNumbers.get([taskName, subject, context]);
    if (number === undefined) {
      number = keys.push({ taskName, subject, context }) - 1;
      keyNumbers.set([taskName, subject, context], number);
    }
    return number;
  };
  const pendingKeys = new Int32Array(pendingCount);
  for (let index = 0; index < pendingCount; index += 1) {
    pendingKeys[index] = keyOf(pendingColumns.taskNames[index], pendingColumns.subjects[index], pendingColumns.contexts[index]);
  }
  const runningKeys = runningRows.map((row) => keyOf(row.task_name, row.subject, row.context));
  const durationsByKey = await expectedDurations(em, keys, options.sampleRuns);
  const durations = keys.map((key) => durationsByKey.get(durationKey(key)) ?? null);
  const readMs = performance.now() - readStart;

  const computeStart = performance.now();
  const fallbackMs = medianOf([...durationsByKey.values()].map((duration) => duration.ms)) ?? DEFAULT_UNKNOWN_MS;
  const workers: EstimateWorker[] = workerRows.map((row) => ({
    id: Number(row.id),
    concurrency: row.concurrency,
    capacity: { totalMemory: Number(row.total_memory), availableDiskSpace: Number(row.available_disk_space), cpuCount: row.cpu_count, gpuCount: row.gpu_count, tags: row.tags },
  }));
  const running: EstimateRunning[] = runningRows.map((row, index) => {
    const duration = durations[runningKeys[index]];
    const elapsed = row.started_at === null ? 0 : nowMs - row.started_at;
    return { workerId: Number(row.worker_id), remainingMs: duration ? duration.ms - elapsed : null };
  });
  // Requests with the same needs share one needs object, which estimateStarts then looks up once.
  const needsOf = new TupleMap<[number, number, number, number], EffectiveRequirements>();
  const noTags: string[] = [];
  const pending = new Array<EstimatePending>(pendingCount);
  for (let index = 0; index < pendingCount; index += 1) {
    const key: [number, number, number, number] = [pendingColumns.needMemory[index], pendingColumns.needDisk[index], pendingColumns.needCpu[index], pendingColumns.needGpu[index]];
    const needTags = pendingColumns.needTags.size === 0 ? undefined : pendingColumns.needTags.get(pendingColumns.ids[index]);
    let needs = needTags ? undefined : needsOf.get(key);
    if (needs === undefined) {
      needs = { needMemory: orNull(key[0]), needDisk: orNull(key[1]), needCpu: orNull(key[2]), needGpu: orNull(key[3]), needTags: needTags ?? noTags };
      if (!needTags) needsOf.set(key, needs);
    }
    pending[index] = {
      needs,
      notBeforeMs: orNull(pendingColumns.notBefore[index]),
      durationMs: durations[pendingKeys[index]]?.ms ?? null,
      unschedulable: pendingColumns.unschedulable[index] === 1,
    };
  }
  const estimates = estimateStarts(nowMs, workers, running, pending, fallbackMs);

  const writes: EstimateWrite[] = [];
  const reasons: string[] = [];
  const shapes: number[] = [];
  // Most rows share their wording with many others (same key, same workers): word each once. Keyed by
  // (key number, workers that fit, guessed ahead, held by its back-off); -1 workers: no estimate, by why.
  const reasonOf = new TupleMap<[number, number, boolean, boolean], number>();
  for (let index = 0; index < pendingCount; index += 1) {
    const estimate = estimates[index];
    const notBefore = pending[index].notBeforeMs;
    const wordingKey: [number, number, boolean, boolean] = estimate.kind === 'none'
      ? [-1, -1, estimate.why === 'unschedulable', false]
      : [pendingKeys[index], estimate.workers, estimate.guessedAhead, notBefore !== null && estimate.startMs === notBefore];
    let reason = reasonOf.get(wordingKey);
    if (reason === undefined) {
      const text = describePending(estimate, durations[pendingKeys[index]], fallbackMs, notBefore);
      shapes.push(shapeOf(text));
      reason = reasons.push(text) - 1;
      reasonOf.set(wordingKey, reason);
    }
    const startMs = estimate.kind === 'none' ? null : estimate.startMs;
    const endMs = estimate.kind === 'none' ? null : estimate.endMs;
    const id = pendingColumns.ids[index];
    const at = storedIndex(stored, id);
    if (at < 0 || stored.shape[at] !== shapes[reason] || moved(nowMs, storedTime(stored.startMs, at), startMs) || moved(nowMs, storedTime(stored.endMs, at), endMs)) {
      writes.push({ id, startMs, endMs, reason, keepStart: false });
    }
  }
  // A request requeued between the two reads is in both: its pending estimate is the one to write (once).
  const runningIds = new Set(runningRows.map((row) => Number(row.id)));
  const requeued = new Set(runningIds.size === 0 ? [] : pendingColumns.ids.filter((id) => runningIds.has(id)));
  runningRows.forEach((row, index) => {
    const id = Number(row.id);
    if (requeued.has(id)) return;
    const duration = durations[runningKeys[index]];
    const endMs = (row.started_at ?? nowMs) + (duration?.ms ?? fallbackMs);
    const reason = duration
      ? `running: expected to take ${formatDuration(duration.ms / 1000)} (${describeDuration(duration)})`
      : `running: no history to go on for this task; counted as ${formatDuration(fallbackMs / 1000)}`;
    const shape = shapeOf(reason);
    const at = storedIndex(stored, id);
    if (at < 0 || stored.shape[at] !== shape || moved(nowMs, storedTime(stored.endMs, at), endMs)) {
      shapes.push(shape);
      writes.push({ id, startMs: null, endMs, reason: reasons.push(reason) - 1, keepStart: true });
    }
  });
  const computeMs = performance.now() - computeStart;

  const writeStart = performance.now();
  await writeEstimates(em, stored, writes, reasons, shapes);
  const writeMs = performance.now() - writeStart;
  return { pending: pendingCount, running: runningRows.length, workers: workers.length, written: writes.length, readMs, computeMs, writeMs };
}

/** A pending request's estimate in words: the figures it rests on, and what is guessed. */
function describePending(
  estimate: Estimate,
  own: ExpectedDuration | null,
  fallbackMs: number,
  notBeforeMs: number | null,
): string {
  if (estimate.kind === 'none') {
    return estimate.why === 'unschedulable' ? 'no estimate: no enabled worker can run it' : 'no estimate: no worker that can run it is online';
  }
  const parts = [`from the learned durations of the requests running and ahead of it on the ${estimate.workers} worker${estimate.workers === 1 ? '' : 's'} that can run it`];
  if (estimate.guessedAhead) parts.push(`some of those have no history to go on (each counted as ${formatDuration(fallbackMs / 1000)})`);
  if (notBeforeMs !== null && estimate.startMs === notBeforeMs) parts.push('not before its retry back-off ends');
  parts.push(own ? `its own run: ${formatDuration(own.ms / 1000)} (${describeDuration(own)})` : `no history to go on for its own run: counted as ${formatDuration(fallbackMs / 1000)}`);
  return parts.join('; ');
}

function describeDuration(duration: ExpectedDuration): string {
  return `mean of ${duration.runs} successful run${duration.runs === 1 ? '' : 's'} of ${duration.label}`;
}

/**
 * Worth a write: an estimate appeared, or a time moved by more than 1 s and 5 % of the time until it. (One that
 * went is a change of wording, which the caller compares.) `stored`: NaN where none.
 */
function moved(nowMs: number, stored: number, next: number | null): boolean {
  if (next === null) return false;
  if (Number.isNaN(stored)) return true;
  return Math.abs(stored - next) > Math.max(1_000, 0.05 * Math.max(0, next - nowMs));
}

/**
 * What a wording change is: a 32-bit FNV-1a hash of the reason with its figures taken out (figures drift with
 * every run, so they alone do not call for a write). Stored as eta_shape.
 */
function shapeOf(reason: string): number {
  const shape = reason.replace(/[\d.]+(ms|[smhd])?/g, '#');
  let hash = 0x811c9dc5;
  for (let index = 0; index < shape.length; index += 1) hash = Math.imul(hash ^ shape.charCodeAt(index), 0x01000193);
  return hash | 0;
}

function orNull(value: number): number | null {
  return Number.isNaN(value) ? null : value;
}

function medianOf(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
