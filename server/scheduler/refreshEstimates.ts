import type { EntityManager } from '@mikro-orm/postgresql';
import { rawQuery } from '../sql/rawQuery';
import { formatDuration } from '../../protocol/units';
import { durationKey, expectedDurations, type ExpectedDuration } from '../history/expectedDurations';
import { estimateStarts, type Estimate, type EstimatePending, type EstimateRunning, type EstimateWorker } from './estimateStarts';

/** Assumed for a task with no history when no other task has any either. */
const DEFAULT_UNKNOWN_MS = 60_000;
/** Upserts per statement. */
const WRITE_BATCH = 20_000;

/** Times as epoch ms (float8) and an empty tag list as null: parsing dates and arrays is most of a 100k-row read. */
interface PendingRow {
  id: string;
  not_before: number | null;
  need_memory: string | null;
  need_disk: string | null;
  need_cpu: number | null;
  need_gpu: number | null;
  need_tags: string[] | null;
  unschedulable: boolean;
  task_name: string;
  subject: string;
  context: string;
  expected_start_at: number | null;
  expected_end_at: number | null;
  eta_reason: string | null;
}

interface RunningRow {
  id: string;
  worker_id: string;
  started_at: Date | null;
  task_name: string;
  subject: string;
  context: string;
  expected_end_at: Date | null;
  eta_reason: string | null;
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

interface EtaWrite {
  id: number;
  start: Date | null;
  end: Date | null;
  reason: string;
  /** Running: keep the last estimate of its start, only the end and reason change. */
  keepStart: boolean;
}

/**
 * The housekeeping pass behind `expected_start_at` / `expected_end_at` / `eta_reason`: reads the online workers,
 * the running requests and the pending ones in claim order, replays the claim with learned durations
 * (estimateStarts) and stores the estimates in work_request_eta. Only estimates that moved (by more than 1 s
 * and 5 % of the time until them) or whose wording changed are written, so a queue that goes as predicted costs
 * reads only.
 */
export async function refreshEstimates(em: EntityManager, options: { sampleRuns: number; now?: Date }): Promise<EstimatesReport> {
  const readStart = performance.now();
  const nowMs = (options.now ?? new Date()).getTime();
  const workerRows = await em.execute<Array<{ id: string; total_memory: string; available_disk_space: string; cpu_count: number; gpu_count: number; tags: string[]; concurrency: number }>>(
    `select id, total_memory, available_disk_space, cpu_count, gpu_count, tags, concurrency from worker where enabled and online`,
  );
  const runningRows = await rawQuery<RunningRow>(
      em,
    `select r.id, r.worker_id, r.started_at, r.task_name, coalesce(r.subject, '') as subject, coalesce(r.context, '') as context,
       e.expected_end_at, e.eta_reason
     from work_request r left join work_request_eta e on e.work_request_id = r.id
     where r.status = 'running'`,
  );
  const pendingRows = await rawQuery<PendingRow>(
      em,
    `select r.id, extract(epoch from r.not_before)::float8 * 1000 as not_before, r.need_memory, r.need_disk, r.need_cpu, r.need_gpu,
       nullif(r.need_tags, '{}') as need_tags, r.unschedulable_reason is not null as unschedulable,
       r.task_name, coalesce(r.subject, '') as subject, coalesce(r.context, '') as context,
       extract(epoch from e.expected_start_at)::float8 * 1000 as expected_start_at, extract(epoch from e.expected_end_at)::float8 * 1000 as expected_end_at, e.eta_reason
     from work_request r left join work_request_eta e on e.work_request_id = r.id
     where r.status = 'pending'
     order by (r.priority + r.priority_adjustment) desc, r.created_at, r.id`,
  );
  const keys = [...runningRows, ...pendingRows].map((row) => ({ taskName: row.task_name, subject: row.subject, context: row.context }));
  const durations = await expectedDurations(em, keys, options.sampleRuns);
  const readMs = performance.now() - readStart;

  const computeStart = performance.now();
  const fallbackMs = medianOf([...durations.values()].map((duration) => duration.ms)) ?? DEFAULT_UNKNOWN_MS;
  const durationOf = (row: { task_name: string; subject: string; context: string }) =>
    durations.get(durationKey({ taskName: row.task_name, subject: row.subject, context: row.context })) ?? null;
  const workers: EstimateWorker[] = workerRows.map((row) => ({
    id: Number(row.id),
    concurrency: row.concurrency,
    capacity: { totalMemory: Number(row.total_memory), availableDiskSpace: Number(row.available_disk_space), cpuCount: row.cpu_count, gpuCount: row.gpu_count, tags: row.tags },
  }));
  const running: EstimateRunning[] = runningRows.map((row) => {
    const duration = durationOf(row);
    const elapsed = row.started_at ? nowMs - new Date(row.started_at).getTime() : 0;
    return { workerId: Number(row.worker_id), remainingMs: duration ? duration.ms - elapsed : null };
  });
  const pending: EstimatePending[] = pendingRows.map((row) => ({
    needs: {
      needMemory: row.need_memory === null ? null : Number(row.need_memory),
      needDisk: row.need_disk === null ? null : Number(row.need_disk),
      needCpu: row.need_cpu,
      needGpu: row.need_gpu,
      needTags: row.need_tags ?? [],
    },
    notBeforeMs: row.not_before,
    durationMs: durationOf(row)?.ms ?? null,
    unschedulable: row.unschedulable,
  }));
  const estimates = estimateStarts(nowMs, workers, running, pending, fallbackMs);

  const writes: EtaWrite[] = [];
  // Most rows share their wording with many others (same key, same workers): word each once.
  const reasons = new Map<string, string>();
  pendingRows.forEach((row, index) => {
    const estimate = estimates[index];
    const own = durationOf(row);
    const notBefore = pending[index].notBeforeMs;
    const wordingKey = estimate.kind === 'none'
      ? estimate.why
      : `${estimate.workers}|${estimate.guessedAhead}|${notBefore !== null && estimate.startMs === notBefore}|${own ? `${own.ms}|${own.runs}|${own.label}` : ''}`;
    let reason = reasons.get(wordingKey);
    if (reason === undefined) {
      reason = describePending(estimate, own, fallbackMs, notBefore);
      reasons.set(wordingKey, reason);
    }
    const next = estimate.kind === 'none' ? { start: null, end: null, reason } : { start: new Date(estimate.startMs), end: new Date(estimate.endMs), reason };
    if (changed(nowMs, row, next)) writes.push({ id: Number(row.id), ...next, keepStart: false });
  });
  for (const row of runningRows) {
    const duration = durationOf(row);
    const startedMs = row.started_at ? new Date(row.started_at).getTime() : nowMs;
    const end = new Date(startedMs + (duration?.ms ?? fallbackMs));
    const reason = duration
      ? `running: expected to take ${formatDuration(duration.ms / 1000)} (${describeDuration(duration)})`
      : `running: no history to go on for this task; counted as ${formatDuration(fallbackMs / 1000)}`;
    const storedEnd = row.expected_end_at === null ? null : new Date(row.expected_end_at).getTime();
    if (changed(nowMs, { expected_start_at: null, expected_end_at: storedEnd, eta_reason: row.eta_reason }, { start: null, end, reason })) {
      writes.push({ id: Number(row.id), start: null, end, reason, keepStart: true });
    }
  }
  const computeMs = performance.now() - computeStart;

  const writeStart = performance.now();
  const computedAt = new Date(nowMs);
  await upsertEstimates(em, writes.filter((write) => !write.keepStart), computedAt, false);
  await upsertEstimates(em, writes.filter((write) => write.keepStart), computedAt, true);
  const writeMs = performance.now() - writeStart;
  return { pending: pendingRows.length, running: runningRows.length, workers: workers.length, written: writes.length, readMs, computeMs, writeMs };
}

/** Writes estimates by request id; `keepStart` (running requests) leaves a stored expected start as it was. */
async function upsertEstimates(em: EntityManager, writes: EtaWrite[], computedAt: Date, keepStart: boolean): Promise<void> {
  for (let index = 0; index < writes.length; index += WRITE_BATCH) {
    const batch = writes.slice(index, index + WRITE_BATCH);
    // One JSON parameter (no bind-parameter limit); the join drops requests deleted since they were read.
    await rawQuery(
      em,
      `insert into work_request_eta (work_request_id, expected_start_at, expected_end_at, eta_reason, computed_at)
       select u.id, u.start_at, u.end_at, u.reason, ?::timestamptz
       from json_to_recordset(?::json) as u(id bigint, start_at timestamptz, end_at timestamptz, reason text)
       join work_request r on r.id = u.id
       on conflict (work_request_id) do update set
         ${keepStart ? '' : 'expected_start_at = excluded.expected_start_at, '}expected_end_at = excluded.expected_end_at,
         eta_reason = excluded.eta_reason, computed_at = excluded.computed_at`,
      [computedAt, JSON.stringify(batch.map((write) => ({ id: write.id, start_at: write.start, end_at: write.end, reason: write.reason })))],
    );
  }
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
 * Worth a write: an estimate appeared or went, a time moved by more than 1 s and 5 % of the time until it, or the
 * reason reads differently (its figures drift with every run, so they alone do not count).
 */
function changed(
  nowMs: number,
  stored: { expected_start_at: number | null; expected_end_at: number | null; eta_reason: string | null },
  next: { start: Date | null; end: Date | null; reason: string },
): boolean {
  if (stored.eta_reason === null) return true;
  if (shape(stored.eta_reason) !== shape(next.reason)) return true;
  return moved(nowMs, stored.expected_start_at, next.start) || moved(nowMs, stored.expected_end_at, next.end);
}

function moved(nowMs: number, stored: number | null, next: Date | null): boolean {
  if (next === null) return false;
  if (stored === null) return true;
  const delta = Math.abs(stored - next.getTime());
  return delta > Math.max(1_000, 0.05 * Math.max(0, next.getTime() - nowMs));
}

const shapes = new Map<string, string>();

function shape(reason: string): string {
  let found = shapes.get(reason);
  if (found === undefined) {
    found = reason.replace(/[\d.]+(ms|[smhd])?/g, '#');
    if (shapes.size > 10_000) shapes.clear();
    shapes.set(reason, found);
  }
  return found;
}

function medianOf(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
